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
