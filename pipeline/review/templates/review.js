// Click a word (or a flag's time) to hear the audio from there.
const player = document.getElementById("player");
document.addEventListener("click", (event) => {
  const target = event.target.closest("[data-start]");
  if (!target || !player) return;
  event.preventDefault();
  player.currentTime = parseFloat(target.dataset.start);
  player.play().catch(() => {});
  document.querySelectorAll(".words .playing").forEach((el) => el.classList.remove("playing"));
  if (target.parentElement.id === "words") target.classList.add("playing");
});

// Leaving the draft with unsaved changes asks first; saving or approving does not.
const fields = document.getElementById("fields");
if (fields) {
  let dirty = fields.dataset.unsaved === "true";  // the server sent back entries it could not save
  fields.addEventListener("input", () => { dirty = true; });
  fields.addEventListener("submit", () => { dirty = false; });
  window.addEventListener("beforeunload", (event) => {
    if (!dirty) return;
    event.preventDefault();
    event.returnValue = "";
  });
}
