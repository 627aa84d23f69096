// Click a word (or a flag's time) to hear the audio from there.
// This desk's prefix: a centre's practice is served under /p/<practice>/.
const ROOT = document.body.dataset.root || "";
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

// « listen » is audited when the audio is actually played, once per page (not on load, not per seek).
if (player) {
  player.addEventListener("play", () => {
    const body = new FormData();
    body.append("csrf", player.dataset.csrf);
    fetch(player.dataset.listened, {method: "POST", body, credentials: "same-origin"}).catch(() => {});
  }, {once: true});
}

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

// Nothing she types is lost. Her working copy goes to the server a few seconds after she stops
// typing and when she leaves a field (that activity also keeps the session open); this browser
// keeps one too, for when the server cannot be reached. Neither is the saved draft: the page
// says which she is looking at.
if (fields && fields.dataset.editable === "true") {
  const job = fields.dataset.job;
  const localKey = `dictee.working.${fields.dataset.user}.${job}`;
  const version = Number(fields.elements.version.value);
  const status = document.getElementById("autosave");
  const values = () => {
    const kept = {};
    for (const element of fields.elements) {
      if (element.name && !["csrf", "version", "choice", "then"].includes(element.name) && element.type !== "submit") kept[element.name] = element.value;
    }
    return kept;
  };
  const now = () => new Date().toTimeString().slice(0, 5);
  let timer = null, sent = JSON.stringify(values());
  const keepLocally = () => localStorage.setItem(localKey, JSON.stringify({fields: values(), version, at: Date.now(), shown: now()}));
  const send = async () => {
    clearTimeout(timer);
    const current = JSON.stringify(values());
    if (current === sent) return;
    keepLocally();
    try {
      const answer = await fetch(`${ROOT}/jobs/${job}/working-copy`, {
        method: "POST", credentials: "same-origin", redirect: "manual",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": fields.dataset.csrf},
        body: JSON.stringify({fields: values(), version}),
      });
      if (!answer.ok) throw new Error(String(answer.status));
      sent = current;
      status.textContent = `Copie de travail enregistrée — ${(await answer.json()).saved_at} (le courrier n'est enregistré qu'avec « Enregistrer »)`;
    } catch (error) {
      status.textContent = `Serveur injoignable ou session fermée : copie gardée dans ce navigateur (${now()})`;
    }
  };
  fields.addEventListener("input", () => { keepLocally(); clearTimeout(timer); timer = setTimeout(send, 3000); });
  fields.addEventListener("focusout", send);
  fields.addEventListener("submit", () => keepLocally());  // kept until a newer version is seen saved

  // A copy this browser kept, newer than what the server shows, is offered back.
  const local = JSON.parse(localStorage.getItem(localKey) || "null");
  const differs = local && Object.entries(local.fields).some(([name, value]) => fields.elements[name] && fields.elements[name].value !== value);
  if (local && local.version < version) localStorage.removeItem(localKey);  // saved since: it is in the draft
  else if (differs) {
    const offer = document.getElementById("local-copy");
    offer.querySelector("span").textContent = local.shown;
    offer.hidden = false;
    document.getElementById("restore-local").addEventListener("click", () => {
      for (const [name, value] of Object.entries(local.fields)) if (fields.elements[name]) fields.elements[name].value = value;
      offer.hidden = true;
      dirty_after_restore();
      send();
    });
    document.getElementById("drop-local").addEventListener("click", () => { localStorage.removeItem(localKey); offer.hidden = true; });
  }
  function dirty_after_restore() { fields.dispatchEvent(new Event("input")); }
}

// An alert's « → dans le courrier »: one click puts the caret on its words in the letter (she
// asked for it: this is the one place the page moves her caret).
document.querySelectorAll("a.find").forEach((link) => link.addEventListener("click", (event) => {
  event.preventDefault();
  const body = document.getElementById("body");
  const at = body ? body.value.toLowerCase().indexOf(link.dataset.find.toLowerCase()) : -1;
  if (at < 0) return;
  body.focus();
  body.setSelectionRange(at, at + link.dataset.find.length);
}));

// In a conflict, one click takes the saved version of a field into the form.
document.querySelectorAll(".take-saved").forEach((button) => button.addEventListener("click", () => {
  const target = document.getElementById("fields")?.elements[button.dataset.field];
  if (target) { target.value = button.dataset.value; target.dispatchEvent(new Event("input", {bubbles: true})); }
}));

// Who else has this draft open, every 30 s.
if (fields) {
  const beat = async () => {
    try {
      const answer = await fetch(`${ROOT}/jobs/${fields.dataset.job}/presence`, {method: "POST", credentials: "same-origin",
        redirect: "manual", headers: {"X-CSRF-Token": fields.dataset.csrf}});
      if (!answer.ok) return;
      const others = (await answer.json()).others;
      const shown = document.getElementById("presence");
      shown.hidden = others.length === 0;
      shown.textContent = others.map((p) => `En cours par ${p.username} depuis ${p.since}`).join(" · ");
      document.querySelectorAll(".presence").forEach((el) => { el.hidden = true; });
    } catch (error) { /* the autosave line says when the server cannot be reached */ }
  };
  setInterval(beat, 30000);
}

// Transcription controls, as on a dictaphone desk (SpeechExec, ODMS). Defaults are listed on the
// page; each reviewer may change them, kept in this browser. Foot pedals in keyboard mode send
// F7 / F8 / F9 (rewind / forward / play-pause) by default.
const CONTROL_DEFAULTS = {rewindStep: 2, longStep: 5, autoRewind: 2, rate: 1.0};
const controls = Object.assign({}, CONTROL_DEFAULTS, JSON.parse(localStorage.getItem("dictee.controls") || "{}"));

function saveControls() { localStorage.setItem("dictee.controls", JSON.stringify(controls)); }

function clampRate(rate) { return Math.min(2, Math.max(0.5, Math.round(rate * 100) / 100)); }

if (player) {
  player.preservesPitch = true;  // slower or faster, the voice keeps its pitch
  player.playbackRate = controls.rate;
  let pausedAt = null;

  const togglePlay = () => {
    if (player.paused) {
      if (pausedAt !== null) player.currentTime = Math.max(0, player.currentTime - controls.autoRewind);
      player.play().catch(() => {});
    } else {
      player.pause();
      pausedAt = player.currentTime;
    }
  };
  const skip = (seconds) => { player.currentTime = Math.max(0, player.currentTime + seconds); };
  const setRate = (rate) => {
    controls.rate = clampRate(rate);
    player.playbackRate = controls.rate;
    saveControls();
    const shown = document.getElementById("rate");
    if (shown) shown.textContent = controls.rate.toFixed(2) + "×";
  };
  // The alerts, in time order: flags with a time and unsure words.
  const alertTimes = () => Array.from(document.querySelectorAll("#alerts [data-start], #words .low"))
    .map((el) => parseFloat(el.dataset.start)).filter((t) => !Number.isNaN(t)).sort((a, b) => a - b);
  const nextAlert = () => {
    const next = alertTimes().find((t) => t > player.currentTime + 0.05);
    if (next === undefined) return;
    player.currentTime = next;
    player.play().catch(() => {});
  };
  // The word being heard is highlighted in the transcript, and the letter scrolls to where it
  // stands (not while she types: a pause of 2 s gives it back). The caret and the selection are
  // never moved: a keystroke during playback lands where she put it, never on a followed word.
  const words = Array.from(document.querySelectorAll("#words span[data-start]"));
  const letter = document.getElementById("body");
  const heardNow = document.getElementById("heard-now");
  let typedAt = 0;
  let followed = null;  // {index, at}: where the last followed word stands in the letter
  letter?.addEventListener("input", () => { typedAt = Date.now(); });  // shortcuts are not typing
  const bare = (text) => text.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, "").toLowerCase();
  const followCaret = (word) => {
    if (heardNow) heardNow.textContent = word.textContent.trim();
    if (!letter || Date.now() - typedAt < 2000) return;
    const needle = bare(word.textContent);
    if (needle.length < 3) return;  // « de », « la » are everywhere: wait for a telling word
    const index = words.indexOf(word);
    const text = letter.value.toLowerCase();  // same length as the value: positions carry over
    // Where to look: just after the last word when playing on, else in proportion to the audio.
    const goingOn = followed && index > followed.index && index - followed.index < 8;
    const expected = goingOn ? followed.at : Math.round(text.length * index / Math.max(1, words.length));
    let best = -1;
    for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + 1)) {
      if (goingOn && at < expected) continue;
      if (best < 0 || Math.abs(at - expected) < Math.abs(best - expected)) best = at;
    }
    if (best < 0 || Math.abs(best - expected) > 600) return;
    letter.scrollTop = Math.max(0, letter.scrollHeight * best / Math.max(1, text.length) - letter.clientHeight / 2);
    letter.dataset.following = String(best);  // where the heard word stands (for tests and styling)
    followed = {index, at: best + needle.length};
  };
  let current = null;
  player.addEventListener("timeupdate", () => {
    let heard = null;
    for (const word of words) {
      if (parseFloat(word.dataset.start) <= player.currentTime + 0.02) heard = word; else break;
    }
    words.forEach((word) => word.classList.toggle("playing", word === heard));
    if (heard && heard !== current && !player.paused) followCaret(heard);
    current = heard;
  });

  document.addEventListener("keydown", (event) => {
    const ctrl = event.ctrlKey || event.metaKey;
    // Inside a text field, Ctrl+arrows are the editor's (word, selection, paragraph): transport
    // there is the F-keys (and a pedal in keyboard mode), Ctrl+Space and the Ctrl+Alt keys.
    const editing = event.target.matches?.("textarea, input, select");
    let handled = true;
    if (event.key === "F9" || (ctrl && event.code === "Space")) togglePlay();
    else if (event.key === "F7") skip(-controls.rewindStep);
    else if (event.key === "F8") skip(controls.rewindStep);
    else if (event.key === "F2" || (ctrl && event.altKey && event.code === "KeyN")) nextAlert();
    else if (editing) handled = false;
    else if (ctrl && !event.shiftKey && event.key === "ArrowLeft") skip(-controls.rewindStep);
    else if (ctrl && !event.shiftKey && event.key === "ArrowRight") skip(controls.rewindStep);
    else if (ctrl && event.shiftKey && event.key === "ArrowLeft") skip(-controls.longStep);
    else if (ctrl && event.shiftKey && event.key === "ArrowRight") skip(controls.longStep);
    else if (ctrl && event.key === "ArrowDown") setRate(controls.rate - 0.25);
    else if (ctrl && event.key === "ArrowUp") setRate(controls.rate + 0.25);
    else handled = false;
    if (handled) event.preventDefault();
  });

  const settingsForm = document.getElementById("controls");
  if (settingsForm) {
    settingsForm.elements.autoRewind.value = controls.autoRewind;
    settingsForm.elements.rewindStep.value = controls.rewindStep;
    settingsForm.addEventListener("change", () => {
      controls.autoRewind = parseFloat(settingsForm.elements.autoRewind.value);
      controls.rewindStep = parseFloat(settingsForm.elements.rewindStep.value);
      saveControls();
    });
  }
  setRate(controls.rate);
}

// Decisions from the keyboard, on every draft (typed notes too, which have no player):
// Ctrl+Alt+A approves (submits, or signs); Ctrl+Alt+R sends back — with the comment written,
// at once, else the comment field is opened for it.
document.addEventListener("keydown", (event) => {
  if (!(event.ctrlKey || event.metaKey) || !event.altKey) return;
  if (event.code === "KeyA" && document.getElementById("approve")) {
    event.preventDefault();
    document.getElementById("approve").click();
  } else if (event.code === "KeyR" && document.getElementById("reject")) {
    event.preventDefault();
    const comment = document.getElementById("comment");
    if (comment.value.trim()) document.getElementById("reject").click();
    else comment.focus();
  }
});

// After « transmettre » / « signer »: the next draft of her worklist, or the list — her choice, kept.
const thenNext = document.getElementById("then-next");
if (thenNext) {
  const apply = () => { document.getElementById("then").value = thenNext.checked ? "next" : "list"; };
  thenNext.checked = localStorage.getItem("dictee.then") !== "list";
  apply();
  thenNext.addEventListener("change", () => { localStorage.setItem("dictee.then", thenNext.checked ? "next" : "list"); apply(); });
}

// A refused form answers on its own URL (…/edit): the address goes back to the draft's, so a
// reload opens the draft (her working copy with it) rather than posting again.
if (/\/jobs\/[0-9a-f]{16}\/(edit|approve|patient|correspondent)$/.test(location.pathname)) {
  history.replaceState(null, "", location.pathname.replace(/\/[a-z]+$/, ""));
}

// The worklist's columns sort on a click (again: the other way).
const table = document.getElementById("worklist");
if (table) {
  table.querySelectorAll("th").forEach((header, column) => {
    header.style.cursor = "pointer";
    header.addEventListener("click", () => {
      const body = table.tBodies[0];
      const rows = Array.from(body.rows).filter((row) => row.cells.length > 1);
      const key = (row) => row.cells[column]?.dataset.sort ?? row.cells[column]?.textContent.trim() ?? "";
      const down = header.dataset.sorted !== "up";
      rows.sort((a, b) => key(a).localeCompare(key(b), "fr", {numeric: true}) * (down ? 1 : -1));
      rows.forEach((row) => body.appendChild(row));
      table.querySelectorAll("th").forEach((other) => delete other.dataset.sorted);
      header.dataset.sorted = down ? "up" : "down";
    });
  });
}

// Autotext: « .cdt » then a space or Enter in the letter becomes the phrase it stands for.
const autotextBody = document.getElementById("body");
if (autotextBody && autotextBody.dataset.autotext) {
  const phrases = JSON.parse(autotextBody.dataset.autotext);
  autotextBody.addEventListener("input", (event) => {
    if (!["insertText", "insertLineBreak"].includes(event.inputType)) return;
    if (event.inputType === "insertText" && event.data !== " ") return;
    const end = autotextBody.selectionStart - 1;  // the space or line break just typed
    const before = autotextBody.value.slice(0, end);
    const found = before.match(/(^|\s)(\.[a-z0-9]{1,12})$/);
    if (!found || !(found[2] in phrases)) return;
    const start = end - found[2].length;
    const separator = autotextBody.value[end];  // the space or line break, kept after the phrase
    autotextBody.setRangeText(phrases[found[2]] + separator, start, end + 1, "end");
    autotextBody.dispatchEvent(new Event("input", {bubbles: true}));  // autosaved like anything typed
  });
}

// The letter's marks, kept in step with what she types and where she scrolls.
const markedBody = document.getElementById("body");
const markLayer = document.getElementById("letter-marks");
if (markedBody && markLayer && markedBody.dataset.marks) {
  const marks = JSON.parse(markedBody.dataset.marks);
  const escapeHtml = (text) => text.replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
  const escapeRegex = (word) => word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const kinds = [["fix", marks.fixed], ["low", marks.unsure]].filter(([, words]) => words.length);
  const patterns = kinds.map(([kind, words]) => [kind, new RegExp(`(?<![\\p{L}\\p{N}])(?:${words.map(escapeRegex).join("|")})(?![\\p{L}\\p{N}])`, "giu")]);
  const numbers = /\d+(?:[,.]\d+)?/g;
  const draw = () => {
    const text = markedBody.value;
    const spans = [];  // [start, end, kind], the first kind that claims a character wins
    for (const [kind, pattern] of [...patterns, ["num", numbers]]) {
      for (const found of text.matchAll(pattern)) {
        const start = found.index, end = start + found[0].length;
        if (!spans.some(([s, e]) => start < e && s < end)) spans.push([start, end, kind]);
      }
    }
    spans.sort((a, b) => a[0] - b[0]);
    let html = "", at = 0;
    for (const [start, end, kind] of spans) {
      html += escapeHtml(text.slice(at, start)) + `<mark class="${kind}">${escapeHtml(text.slice(start, end))}</mark>`;
      at = end;
    }
    markLayer.innerHTML = html + escapeHtml(text.slice(at)) + "\n";  // a last empty line keeps the layers aligned
    markLayer.parentElement.scrollTop = markedBody.scrollTop;
  };
  markedBody.addEventListener("input", draw);
  markedBody.addEventListener("scroll", () => { markLayer.parentElement.scrollTop = markedBody.scrollTop; });
  draw();
}
