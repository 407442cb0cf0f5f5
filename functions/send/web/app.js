// The composer: sends through the public API like any client and follows the message to a final
// status. Logs nothing: the console must stay free of keys, numbers and texts.
import { countSegments, GSM7_EXTENSION, LIMITS, nonGsmCharacters } from "./segments.js";

// This file is at <base>web/app.js, where <base> is "/" locally and "/<stage>/" when deployed.
const API_BASE = new URL("../", import.meta.url);
const KEY_STORAGE = "sinch-gateway.api-key";
const FINAL = new Set(["delivered", "failed", "expired", "rejected", "cancelled", "aborted", "deleted"]);
const SMS_MAX_CHARS = 1600;
const MMS_MAX_CHARS = 5000;
const MAX_SLIDES = 8;
const POLL_FIRST_MS = 500;
const POLL_MAX_MS = 4000;
const POLL_GIVE_UP_MS = 15 * 60 * 1000;

const KEY_REFUSED = "The API key was not accepted: check that it is complete and current, or ask for a new one.";

// Error codes in plain words: ours, Sinch's delivery report codes (XMS) and its MMS JSON API codes.
const REASONS = {
  retries_exhausted: "Sinch could not be reached after several attempts, so the gateway gave up.",
  sinch_outcome_unknown:
    "Sinch's answer was lost, and Sinch cannot be asked whether it took the message; it was not sent " +
    "again, so that it cannot arrive twice.",
  sinch_unauthorized: "Sinch refused the gateway's own credentials: the gateway's Sinch settings need fixing.",
  template_not_ready: "The MMS template is not ready yet.",
  syntax_invalid_json: "Sinch refused the message as not valid.",
  syntax_invalid_parameter_format: "Sinch refused a field of the message as badly formatted (the number, perhaps).",
  syntax_constraint_violation: "Sinch refused the message as not valid.",
  forbidden: "Sinch does not allow this account to send this message.",
  unknown_campaign: "Sinch does not know the campaign for this sender.",
  missing_callback_url: "Sinch has no delivery report address for this account.",
  // Sinch's codes on the way, said so that "dispatched, code 401" does not read like a refused key.
  0: "Delivered to the phone.",
  400: "Queued at Sinch.",
  401: "Handed to the phone network.",
  402: "No route to this number: its network could not be found or does not accept the message.",
  403: "Sinch had an internal error and could not send the message.",
  404: "Delivery failed for a temporary reason, such as the phone being unreachable.",
  405: "A parameter in the message did not match what Sinch expected.",
  406: "The message expired at Sinch before it could be delivered.",
  407: "The message was cancelled before it reached the phone network.",
  408: "Sinch rejected the message.",
  410: "The sender number is not set up for this destination.",
  411: "The message needs more parts than the account allows.",
  412: "The Sinch account is not set up for this destination's region.",
  413: "The Sinch account is blocked (possibly out of credit).",
  414: "The phone network could not fetch the media.",
  415: "The MMS network rejected the message.",
  416: "The phone or its network does not support MMS.",
  417: "The phone could not be reached.",
  418: "The phone did not recognise the content.",
  N101: "Handed to the phone network.",
  N102: "Delivered to the phone.",
  N103: "The MMS expired before the phone could be reached.",
  E101: "Sinch could not send the MMS.",
  E102: "The recipient's network rejected the MMS or did not recognise it.",
  E202: "The phone cannot take MMS, and the fallback SMS failed too.",
  E011: "Sinch found the MMS content not valid.",
  E012: "Sinch could not convert the audio.",
  E013: "Sinch could not convert the video.",
  E999: "Sinch could not process the MMS.",
  E110: "Sinch found the number not valid.",
  E114: "The number is blocked at Sinch.",
};
const STATUS_REASONS = {
  failed: "The message could not be delivered.",
  expired: "The message expired before the phone could be reached (it may be off or out of coverage).",
  rejected: "The message was refused and not sent.",
  cancelled: "The message was cancelled before it was sent.",
  aborted: "Sinch stopped the message before it was delivered.",
  deleted: "The message was deleted before it was delivered.",
};

const $ = (id) => document.getElementById(id);
const form = $("composer");
const keyInput = $("api-key");
const toInput = $("to");
const textInput = $("text");
const mediaInput = $("media-url");
const subjectInput = $("subject");
const fallbackInput = $("fallback-text");
const noFallbackInput = $("no-fallback");
const sendButton = $("send");
const slideList = $("slides");

// Where the server's field names are shown: the input and the error element next to it.
const FIELDS = {
  to: [toInput, $("to-error")],
  text: [textInput, $("text-error")],
  mediaUrl: [mediaInput, $("media-url-error")],
  subject: [subjectInput, $("subject-error")],
  fallbackText: [fallbackInput, $("fallback-text-error")],
  disableFallbackSms: [noFallbackInput, $("no-fallback-error")],
  slides: [$("add-slide"), $("slides-error")],
};
const LABELS = {
  to: "To",
  text: "Message",
  mediaUrl: "Media URL",
  subject: "Subject",
  fallbackText: "Fallback SMS text",
  disableFallbackSms: "No fallback SMS",
  slides: "Slides",
};

let generation = 0; // each send starts a new one; a poll of an older one stops

// --- the API key: typed once, kept in this tab's session storage --------------------------------

function storedKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE) || "";
  } catch {
    return ""; // storage disabled: the key is typed for each page
  }
}

function storeKey(value) {
  try {
    if (value) sessionStorage.setItem(KEY_STORAGE, value);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // storage disabled: nothing to keep
  }
}

keyInput.value = storedKey();
keyInput.addEventListener("input", () => storeKey(keyInput.value.trim()));
$("forget-key").addEventListener("click", () => {
  storeKey("");
  keyInput.value = "";
  keyInput.focus();
});

// --- while typing ---------------------------------------------------------------------------------

function slides() {
  return [...slideList.children];
}

function isMms() {
  return mediaInput.value.trim() !== "" || slides().length > 0;
}

function updateForm() {
  const withSlides = slides().length > 0;
  $("subject-field").hidden = !isMms();
  $("fallback").hidden = !withSlides;
  $("text-field").hidden = withSlides;
  $("media-field").hidden = withSlides;
  $("add-slide").disabled = slides().length >= MAX_SLIDES;
  fallbackInput.disabled = noFallbackInput.checked;
  updateCounter();
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function updateCounter() {
  const counter = $("text-counter");
  const text = textInput.value;
  const chars = [...text].length;
  if (mediaInput.value.trim() !== "") {
    counter.textContent = `MMS text: ${chars} of ${MMS_MAX_CHARS} characters (optional).`;
    counter.classList.toggle("over", chars > MMS_MAX_CHARS);
    return;
  }
  const { encoding, segments, units } = countSegments(text);
  const { single, multi } = LIMITS[encoding];
  const name = encoding === "GSM" ? "GSM-7" : "UCS-2";
  const parts = [
    `SMS, ${name}: ${plural(segments, "segment")}`,
    segments === 1 ? `${units} of ${single}` : `${units} units, ${multi} per segment`,
  ];
  if (encoding === "GSM" && [...text].some((c) => GSM7_EXTENSION.has(c))) {
    parts.push("^ { } [ ] ~ | € \\ count as two");
  }
  if (encoding === "UNICODE") {
    const odd = nonGsmCharacters(text);
    parts.push(`UCS-2 because of ${odd.slice(0, 5).join(" ")}${odd.length > 5 ? " …" : ""}`);
    if ([...text].some((c) => c.codePointAt(0) > 0xffff)) parts.push("emoji count as two");
  }
  if (chars > SMS_MAX_CHARS) parts.push(`too long: an SMS has at most ${SMS_MAX_CHARS} characters`);
  counter.textContent = `${parts.join(" · ")}.`;
  counter.classList.toggle("over", chars > SMS_MAX_CHARS);
}

function updateNumberHint() {
  const hint = $("to-hint");
  const written = toInput.value.trim();
  const digits = written.replace(/[ ().-]/g, "");
  let message = "International (E.164) format: +, country code, number.";
  let state = "";
  if (written === "") {
    // the default
  } else if (!written.startsWith("+")) {
    message = "Start with + and the country code (+1 for the US and Canada).";
    state = "warn";
  } else if (!/^\+[0-9 ().-]*$/.test(written)) {
    message = "Only digits, spaces, dashes, dots and parentheses after the +.";
    state = "warn";
  } else if (!/^\+[1-9][0-9]{6,14}$/.test(digits)) {
    message = "E.164 numbers have up to 15 digits after the +, the first not 0.";
    state = "warn";
  } else {
    // Only the shape, so not shown as a success: whether the number exists in its country is
    // the server's to say on Send.
    message = `E.164 shape: ${digits}.`;
  }
  hint.textContent = message;
  hint.dataset.state = state;
}

function addSlide() {
  if (slides().length >= MAX_SLIDES) return;
  const item = $("slide-template").content.firstElementChild.cloneNode(true);
  slideList.append(item);
  renumberSlides();
  updateForm();
  item.querySelector("textarea").focus();
}

// Slide numbers, labels and ids follow the order, so that errors find their slide.
function renumberSlides() {
  slides().forEach((item, index) => {
    const n = index + 1;
    item.querySelector("legend").textContent = `Slide ${n}`;
    for (const part of ["text", "media"]) {
      const input = item.querySelector(`[data-part="${part}"]`);
      const label = item.querySelector(`[data-for="${part}"]`);
      const error = item.querySelector(`[data-error="${part}"]`);
      input.id = `slide-${n}-${part}`;
      error.id = `slide-${n}-${part}-error`;
      label.htmlFor = input.id;
      label.textContent = part === "text" ? `Slide ${n} text` : `Slide ${n} media link`;
      input.setAttribute("aria-describedby", error.id);
    }
    item.querySelector(".remove-slide").textContent = `Remove slide ${n}`;
  });
}

slideList.addEventListener("click", (event) => {
  const button = event.target.closest(".remove-slide");
  if (!button) return;
  const item = button.closest("li");
  const next = item.nextElementSibling || item.previousElementSibling;
  item.remove();
  renumberSlides();
  updateForm();
  (next ? next.querySelector("textarea") : $("add-slide")).focus();
});
$("add-slide").addEventListener("click", addSlide);
textInput.addEventListener("input", updateCounter);
mediaInput.addEventListener("input", updateForm);
noFallbackInput.addEventListener("change", updateForm);
toInput.addEventListener("input", updateNumberHint);

// --- errors next to their fields --------------------------------------------------------------------

function showError(input, element, message) {
  element.textContent = message;
  element.hidden = false;
  input.setAttribute("aria-invalid", "true");
}

function clearErrors() {
  for (const element of form.querySelectorAll(".error")) {
    element.hidden = true;
    element.textContent = "";
  }
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

// "slides.0.mediaUrl" -> that slide's input and error element.
function fieldTarget(field) {
  const slide = /^slides\.(\d+)\.(text|mediaUrl)(\.\d+)?$/.exec(field);
  if (slide) {
    const n = Number(slide[1]) + 1;
    const part = slide[2] === "text" ? "text" : "media";
    const input = $(`slide-${n}-${part}`);
    if (input) return { input, error: $(`slide-${n}-${part}-error`), label: `Slide ${n} ${part}` };
  }
  const known = FIELDS[field];
  return known ? { input: known[0], error: known[1], label: LABELS[field] } : null;
}

// The server's message reads after the field's name ("is required"); a full sentence stays as it is.
function fieldMessage(label, message) {
  return /^[a-z]/.test(message) ? `${label} ${message}` : message;
}

// The 422's errors, each next to its field; those with no field of the page go above Send.
function showFieldErrors(errors) {
  const elsewhere = [];
  let first = null;
  for (const { field, message } of errors) {
    const target = fieldTarget(field);
    if (!target) {
      elsewhere.push(`${field}: ${message}`);
      continue;
    }
    const shown = target.error.hidden ? "" : `${target.error.textContent} `;
    showError(target.input, target.error, `${shown}${fieldMessage(target.label, message)}`);
    first = first || target.input;
  }
  if (elsewhere.length) showFormError(elsewhere.join(" "));
  return first;
}

function showFormError(message) {
  const element = $("form-error");
  element.textContent = message;
  element.hidden = false;
}

// --- the status region ------------------------------------------------------------------------------

// Each part changes only when its content does, so that a screen reader hears what is new.
function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

function showStatus(id, status, note) {
  const line = $("status-line");
  line.classList.remove("muted");
  const key = `${id}|${status}|${note || ""}`;
  if (line.dataset.key === key) return;
  line.dataset.key = key;
  line.replaceChildren();
  if (id) {
    const code = document.createElement("code");
    code.className = "message-id";
    code.textContent = id;
    line.append("Message ", code, ": ");
  }
  if (status) {
    const word = document.createElement("strong");
    word.className = `status-word status-${status}`;
    word.textContent = status;
    line.append(word);
  }
  if (note) line.append(status ? ` — ${note}` : note);
}

function showReason(text) {
  const element = $("status-reason");
  setText(element, text || "");
  element.hidden = !text;
}

function resetStatus() {
  $("status-line").dataset.key = "";
  showReason("");
  $("events").replaceChildren();
  $("events").dataset.keys = "";
}

function formatTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleTimeString(undefined, { hour12: false });
}

function eventItem(event) {
  const item = document.createElement("li");
  const time = document.createElement("time");
  time.dateTime = event.at;
  time.textContent = formatTime(event.at);
  const word = document.createElement("span");
  word.className = "event-status";
  word.textContent = event.status;
  item.append(time, " ", word);
  const notes = [];
  if (event.code !== undefined) {
    const reason = REASONS[String(event.code)];
    notes.push(reason ? `code ${event.code}: ${reason}` : `code ${event.code}`);
  }
  if (event.detail) notes.push(event.detail);
  if (event.stale) notes.push("a late or repeated report: it did not change the status");
  if (notes.length) item.append(` — ${notes.join("; ")}`);
  if (event.stale) item.classList.add("stale");
  return item;
}

// New events are appended; a list that changed otherwise is drawn again.
function showEvents(events) {
  const list = $("events");
  const keys = events.map((event) => JSON.stringify(event));
  const shown = list.dataset.keys ? JSON.parse(list.dataset.keys) : [];
  const isPrefix = shown.every((key, index) => keys[index] === key);
  if (!isPrefix) list.replaceChildren();
  for (const event of events.slice(isPrefix ? shown.length : 0)) list.append(eventItem(event));
  list.dataset.keys = JSON.stringify(keys);
}

// The reason a message did not arrive, in plain words, with the code it came with.
function failureReason(view) {
  const finalEvent = [...(view.events || [])].reverse().find((e) => e.status === view.status && !e.stale);
  const code = view.error?.code ?? finalEvent?.code;
  const sentence = (code !== undefined && REASONS[String(code)]) || STATUS_REASONS[view.status] || "";
  const detail = view.error?.text || finalEvent?.detail || "";
  const said = detail && detail !== sentence ? ` Details: ${detail}` : "";
  return `${sentence}${code !== undefined ? ` (code ${code})` : ""}${said}`.trim();
}

function describe(view) {
  const notes = [];
  if (view.channel === "sms" && view.segments) {
    notes.push(`SMS, ${plural(view.segments, "segment")}, ${view.encoding === "GSM" ? "GSM-7" : "UCS-2"}`);
  } else if (view.channel === "mms") {
    notes.push(view.api === "mms-json" ? "MMS through Sinch's MMS JSON API" : "MMS");
  }
  if (view.deliveredAs === "sms" && view.channel === "mms") notes.push("delivered as its fallback SMS");
  return notes.join(", ");
}

function showView(view) {
  showStatus(view.id, view.status, describe(view));
  if (FINAL.has(view.status) && view.status !== "delivered") {
    showReason(failureReason(view));
  } else if (view.status === "retrying" && view.error) {
    showReason(`Sinch did not take it yet; the gateway will try again. ${failureReason(view)}`);
  } else {
    showReason("");
  }
  showEvents(view.events || []);
}

// --- talking to the API ------------------------------------------------------------------------------

async function callApi(method, path, body) {
  const headers = { "x-api-key": keyInput.value.trim(), accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(new URL(path, API_BASE), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    credentials: "omit",
    referrerPolicy: "no-referrer",
  });
  let json = null;
  try {
    json = await response.json();
  } catch {
    // an empty or non-JSON answer: its status says enough
  }
  return { status: response.status, ok: response.ok, body: json };
}

function refuseKey() {
  storeKey("");
  showError(keyInput, $("api-key-error"), KEY_REFUSED);
}

function request() {
  const body = { to: toInput.value.trim() };
  const present = (value) => (value.trim() === "" ? undefined : value);
  if (slides().length) {
    body.slides = slides().map((item) => {
      const slide = {};
      const text = present(item.querySelector('[data-part="text"]').value);
      const media = present(item.querySelector('[data-part="media"]').value);
      if (text !== undefined) slide.text = text;
      if (media !== undefined) slide.mediaUrl = media.trim();
      return slide;
    });
    if (noFallbackInput.checked) body.disableFallbackSms = true;
    else if (present(fallbackInput.value) !== undefined) body.fallbackText = fallbackInput.value;
  } else {
    if (present(textInput.value) !== undefined || !isMms()) body.text = textInput.value;
    if (present(mediaInput.value) !== undefined) body.mediaUrl = mediaInput.value.trim();
  }
  if (isMms() && present(subjectInput.value) !== undefined) body.subject = subjectInput.value;
  return body;
}

function problemText(answer) {
  const body = answer.body || {};
  if (answer.status === 429) return "Too many requests: wait a moment, then send again.";
  if (body.title) return [body.title, body.detail].filter(Boolean).join(": ");
  if (answer.status >= 500) return `The gateway could not take the message (HTTP ${answer.status}); try again.`;
  return `The gateway answered HTTP ${answer.status}.`;
}

async function send(event) {
  event.preventDefault();
  clearErrors();
  if (keyInput.value.trim() === "") {
    showError(keyInput, $("api-key-error"), "Type your API key first.");
    keyInput.focus();
    return;
  }
  const mine = ++generation;
  resetStatus();
  sendButton.disabled = true;
  form.setAttribute("aria-busy", "true");
  showStatus("", "", "Sending…");
  let answer;
  try {
    answer = await callApi("POST", "v1/messages", request());
  } catch {
    showStatus("", "", "Not sent: the gateway could not be reached. Check the connection and try again.");
    return;
  } finally {
    sendButton.disabled = false;
    form.removeAttribute("aria-busy");
  }
  if (answer.ok && answer.body?.id) {
    showView({ events: [], ...answer.body });
    follow(answer.body.id, mine);
    return;
  }
  if (answer.status === 403) {
    refuseKey();
    showStatus("", "", `Not sent. ${KEY_REFUSED}`);
    keyInput.focus();
    return;
  }
  const problem = answer.body || {};
  if (problem.messageId) {
    // Sinch refused it: the message exists, with its final status and Sinch's reason.
    showStatus(problem.messageId, "", problemText(answer));
    follow(problem.messageId, mine);
    return;
  }
  const errors = Array.isArray(problem.errors) ? problem.errors : [];
  if (answer.status === 422 && errors.length) {
    const first = showFieldErrors(errors);
    showStatus("", "", `Not sent: ${plural(errors.length, "field")} to fix.`);
    if (first) first.focus();
    return;
  }
  showStatus("", "", `Not sent. ${problemText(answer)}`);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// GET the message until it reaches a final status: 0.5 s, doubling to 4 s; a change starts over.
async function follow(id, mine) {
  const started = Date.now();
  let delay = POLL_FIRST_MS;
  let last = "";
  while (mine === generation) {
    await sleep(delay);
    if (mine !== generation) return;
    let answer;
    try {
      answer = await callApi("GET", `v1/messages/${encodeURIComponent(id)}`);
    } catch {
      answer = null;
    }
    if (mine !== generation) return;
    if (answer?.status === 403) {
      refuseKey();
      showStatus(id, "", KEY_REFUSED);
      return;
    }
    if (answer?.ok && answer.body) {
      showView(answer.body);
      if (FINAL.has(answer.body.status)) return;
      const now = JSON.stringify([answer.body.status, (answer.body.events || []).length]);
      delay = now === last ? Math.min(delay * 2, POLL_MAX_MS) : POLL_FIRST_MS;
      last = now;
    } else {
      delay = Math.min(delay * 2, POLL_MAX_MS);
    }
    if (Date.now() - started > POLL_GIVE_UP_MS) {
      showReason("Stopped checking after 15 minutes: send again or ask for the message by its id.");
      return;
    }
  }
}

form.addEventListener("submit", send);
updateForm();
updateNumberHint();
