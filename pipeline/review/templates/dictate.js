// « Dicter »: record (pause, resume, listen back, go on), then send in chunks that resume after a
// network drop: the server says where to start again. Nothing leaves the page before « Envoyer ».
"use strict";
// This desk's prefix: a centre's practice is served under /p/<practice>/.
const ROOT = document.body.dataset.root || "";
(() => {
  const $ = (id) => document.getElementById(id);
  const box = $("recorder");
  const csrf = box.dataset.csrf;
  const CHUNK = Number(box.dataset.chunk) || 256 * 1024;
  let recorder = null, chunks = [], seconds = 0, ticking = null, type = "";

  const say = (text) => { $("status").textContent = text; };
  const buttons = (states) => { for (const [id, on] of Object.entries(states)) $(id).disabled = !on; };
  const clock = () => { $("clock").textContent = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`; };
  const tick = (on) => { clearInterval(ticking); if (on) ticking = setInterval(() => { seconds += 1; clock(); }, 1000); };

  function pickType() {  // Opus where the browser has it (Chromium, Firefox), AAC in MP4 (Safari)
    for (const candidate of ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/mp4", "audio/webm"]) {
      if (window.MediaRecorder && MediaRecorder.isTypeSupported(candidate)) return candidate;
    }
    return "";
  }

  $("record").addEventListener("click", async () => {
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: true } });
    } catch (error) {
      say("Micro indisponible ou refusé.");
      return;
    }
    type = pickType();
    recorder = new MediaRecorder(stream, type ? { mimeType: type, audioBitsPerSecond: 32000 } : {});
    chunks = []; seconds = 0; clock();
    recorder.addEventListener("dataavailable", (event) => { if (event.data.size) chunks.push(event.data); });
    recorder.start(1000);
    tick(true);
    say("Enregistrement…");
    buttons({ record: false, pause: true, resume: false, listen: false, send: true });
  });

  $("pause").addEventListener("click", () => {
    recorder.pause(); recorder.requestData(); tick(false);
    say("En pause : réécoutez, reprenez ou envoyez");
    buttons({ pause: false, resume: true, listen: true, send: true });
  });

  $("resume").addEventListener("click", () => {  // appends to the same recording
    $("playback").pause();
    recorder.resume(); tick(true);
    say("Enregistrement…");
    buttons({ pause: true, resume: false, listen: false });
  });

  $("listen").addEventListener("click", () => {
    const player = $("playback");
    player.src = URL.createObjectURL(new Blob(chunks, { type: recorder.mimeType }));
    player.hidden = false;
    player.play();
  });

  const stopped = () => new Promise((done) => {
    if (recorder.state === "inactive") return done();
    recorder.addEventListener("stop", () => done(), { once: true });
    recorder.stop();
    recorder.stream.getTracks().forEach((track) => track.stop());
  });

  const wait = (ms) => new Promise((done) => setTimeout(done, ms));

  async function call(method, url, body, headers = {}) {
    const response = await fetch(url, { method, body, credentials: "same-origin",
                                        headers: { "X-CSRF-Token": csrf, ...headers } });
    const data = await response.json().catch(() => ({}));
    return { status: response.status, data };
  }

  async function withRetries(step) {  // a dropped connection: wait, ask the server, go on
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await step();
      } catch (error) {
        say(`Connexion perdue, nouvel essai… (${attempt + 1})`);
        await wait(Math.min(1000 * 2 ** attempt, 10000));
      }
    }
  }

  $("send").addEventListener("click", async () => {
    buttons({ record: false, pause: false, resume: false, listen: false, send: false });
    tick(false);
    await stopped();
    const audio = new Blob(chunks, { type: recorder.mimeType });
    const progress = $("progress");
    progress.hidden = false;
    const details = JSON.stringify({ patient: $("patient").value, recipient: $("recipient").value,
                                     urgent: $("urgent").checked });
    const started = await withRetries(() => call("POST", `${ROOT}/dicter/uploads`, details, { "Content-Type": "application/json" }));
    if (started.status !== 200) { say(`Envoi refusé : ${(started.data.error || String(started.status)).split(" / ")[0]}`); return; }
    const id = started.data.id;
    let offset = 0;
    while (offset < audio.size) {
      const piece = audio.slice(offset, offset + CHUNK);
      const sent = await withRetries(async () => {
        const answer = await call("PUT", `${ROOT}/dicter/uploads/${id}?offset=${offset}`, piece);
        if (answer.status >= 500) throw new Error("server");
        return answer;
      }).catch(() => null);
      if (sent && (sent.status === 200 || sent.status === 409) && Number.isInteger(sent.data.offset)) {
        offset = sent.data.offset;  // 409: the server already had more (or less): resume where it says
      } else {
        const asked = await withRetries(() => call("GET", `${ROOT}/dicter/uploads/${id}`));
        offset = asked.data.offset || 0;
      }
      progress.value = offset / audio.size;
      say(`Envoi… ${Math.round(100 * offset / audio.size)} %`);
    }
    const finished = await withRetries(() => call("POST", `${ROOT}/dicter/uploads/${id}/finish?size=${audio.size}`));
    if (finished.status !== 200) { say(`Envoi incomplet : ${(finished.data.error || String(finished.status)).split(" / ")[0]}`); return; }
    say(`Dictée envoyée au secrétariat (${finished.data.job_id})`);
    box.dataset.sent = finished.data.job_id;
    // What went with it is said, then the fields are cleared: the next dictation never
    // inherits the previous patient, recipient or urgency.
    const sentWith = $("patient").value.trim();
    $("last-sent").textContent = sentWith
      ? `Dernière dictée envoyée avec le patient : ${sentWith}${$("urgent").checked ? " (urgente)" : ""}`
      : `Dernière dictée envoyée sans patient indiqué${$("urgent").checked ? " (urgente)" : ""}`;
    $("last-sent").hidden = false;
    $("patient").value = "";
    $("recipient").value = "";
    $("urgent").checked = false;
    const row = document.createElement("tr");
    row.innerHTML = "<td><code></code></td><td>reçue, en cours de transcription</td>";
    row.querySelector("code").textContent = finished.data.job_id;
    $("recent").querySelector("tbody").prepend(row);
    buttons({ record: true });
  });
})();
