/*
 * vox-dispatch reference campaign scenario (VoxEngine).
 *
 * vox-dispatch starts one session of this scenario per CSV row (Management API StartScenarios).
 * The session places one PSTN call, records how it went, and ends.
 *
 * Two kinds of comments mark what you may change:
 *   ADAPT: ...                       yours to change: what is said, the key-press example,
 *                                    voicemail handling, the voice.
 *   CONTRACT with vox-dispatch: ...  what the tool relies on; change it and results are lost.
 *
 * CONTRACT with vox-dispatch, in short:
 *   In:  VoxEngine.customData() is the row: a compact JSON object of the CSV columns the campaign
 *        sends (the phone in E.164), plus an attempt token under ATTEMPT_TOKEN_KEY. Leave it alone.
 *   Out: the outcome goes into the CALL's custom data as {"outcome": "<value>"}; values are
 *        lower-case [a-z0-9_], at most 32 characters. Never overwrite the session's custom data:
 *        the tool finds the session in the call history by exactly what it sent. The one exception:
 *        when no call could be placed, the session's custom data becomes the object that was sent
 *        plus an "outcome" key (so do not name a CSV column "outcome").
 *   End: the session ends when the call ends, and when anything requests the session's access URL
 *        (media_session_access_secure_url): that is the tool's emergency stop. It records "stopped"
 *        unless the outcome is already final, hangs up and terminates.
 */

require(Modules.AMD);

// CONTRACT with vox-dispatch: the phone is read from the first of these keys present in the row.
const PHONE_KEYS = ["phone", "to", "number"];
// CONTRACT with vox-dispatch: the tool's attempt token; never change or remove it. Used only in logs.
const ATTEMPT_TOKEN_KEY = "_vd";
// CONTRACT with vox-dispatch: the tool rewrites the next line at upload from [target] caller_id.
// A row's own "caller_id" column, when sent, takes precedence.
const DEFAULT_CALLER_ID = "";  // vox-dispatch: caller_id

// ADAPT: the text-to-speech voice (see VoiceList in the VoxEngine reference).
const VOICE = VoiceList.Amazon.en_US_Joanna;
// ADAPT: voicemail detection. "" turns it off; otherwise the name of an AMD.Model for the callees'
// country, for example "US". Detection is billed per call; check the AMD reference first.
const VOICEMAIL_MODEL = "";
// ADAPT: how long to wait for a key press after the question, in milliseconds.
const ANSWER_TIMEOUT_MS = 10000;

// CONTRACT with vox-dispatch: the outcome names the tool knows for a failed call (SIP codes).
// Any other code, and 402 (insufficient funds), is "failed".
const OUTCOME_BY_FAILURE_CODE = {
  404: "invalid_number",
  408: "no_answer",
  480: "no_answer",
  484: "invalid_number",
  486: "busy",
  487: "no_answer",
  603: "rejected",
};
// CONTRACT with vox-dispatch: what an outcome may look like.
const OUTCOME_PATTERN = /^[a-z0-9_]{1,32}$/;
// VoxEngine keeps at most 200 bytes of custom data per session and per call.
const CUSTOM_DATA_MAX_BYTES = 200;
const E164_PATTERN = /^\+?[1-9][0-9]{6,14}$/;

const session = {
  sent: "", // the session's custom data exactly as the tool sent it
  row: null, // that data parsed, or null when it is not a JSON object
  call: null,
  callEnded: false,
  connected: false,
  screened: VOICEMAIL_MODEL === "", // no detector: nothing to wait for before talking
  talking: false,
  outcome: "",
  outcomeFinal: false,
  speaking: false,
  afterSpeech: null,
  answerTimer: null,
  terminated: false,
};

if (VOICEMAIL_MODEL !== "" && !(VOICEMAIL_MODEL in AMD.Model)) {
  throw new Error("VOICEMAIL_MODEL = " + JSON.stringify(VOICEMAIL_MODEL) + " is not an AMD.Model");
}

VoxEngine.addEventListener(AppEvents.Started, onStarted);
// CONTRACT with vox-dispatch: a request to the session's access URL is the emergency stop.
VoxEngine.addEventListener(AppEvents.HttpRequest, onStopRequested);

function onStarted() {
  session.sent = VoxEngine.customData() || "";
  session.row = parseObject(session.sent);
  const number = session.row === null ? "" : phoneOf(session.row);
  const callerId = session.row === null ? "" : callerIdOf(session.row);
  if (number === "" || callerId === "") {
    // CONTRACT with vox-dispatch: bad input is "failed", and the session never idles without a call.
    Logger.write("vox-dispatch: not calling: " + whatIsMissing(number, callerId));
    recordOutcome("failed", true);
    endSession();
    return;
  }
  if (ATTEMPT_TOKEN_KEY in session.row) {
    Logger.write("vox-dispatch: attempt " + JSON.stringify(session.row[ATTEMPT_TOKEN_KEY]));
  }
  placeCall(number, callerId);
}

function parseObject(text) {
  try {
    const value = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value) ? value : null;
  } catch (error) {
    return null;
  }
}

function phoneOf(row) {
  const key = PHONE_KEYS.find((name) => typeof row[name] === "string" && row[name] !== "");
  const number = key === undefined ? "" : row[key];
  return E164_PATTERN.test(number) ? number : "";
}

function callerIdOf(row) {
  const own = typeof row.caller_id === "string" && row.caller_id !== "";
  const callerId = own ? row.caller_id : DEFAULT_CALLER_ID;
  return E164_PATTERN.test(callerId) ? callerId : "";
}

function whatIsMissing(number, callerId) {
  if (session.row === null) return "the custom data is not a JSON object";
  if (number === "") return "no E.164 phone under any of " + PHONE_KEYS.join(", ");
  return "no caller id: set [target] caller_id in the campaign or send a caller_id column";
}

function placeCall(number, callerId) {
  const parameters = {};
  if (VOICEMAIL_MODEL !== "") parameters.amd = createVoicemailDetector();
  try {
    session.call = VoxEngine.callPSTN(number, callerId, parameters);
  } catch (error) {
    Logger.write("vox-dispatch: callPSTN refused the call: " + error);
    recordOutcome("failed", true);
    endSession();
    return;
  }
  session.call.addEventListener(CallEvents.Connected, onConnected);
  session.call.addEventListener(CallEvents.Failed, onFailed);
  session.call.addEventListener(CallEvents.Disconnected, onDisconnected);
  session.call.addEventListener(CallEvents.PlaybackFinished, onPlaybackFinished);
  session.call.addEventListener(CallEvents.ToneReceived, onToneReceived);
}

function onConnected() {
  session.connected = true;
  // Not final: what the callee answers, a voicemail verdict or a stop request may replace it.
  recordOutcome("answered", false);
  startTalkingWhenReady();
}

function onFailed(event) {
  session.callEnded = true;
  Logger.write("vox-dispatch: call failed: " + event.code + " " + event.reason);
  recordOutcome(OUTCOME_BY_FAILURE_CODE[event.code] || "failed", true);
  endSession();
}

function onDisconnected() {
  session.callEnded = true;
  recordOutcome(session.outcome || "answered", true);
  endSession();
}

function onStopRequested() {
  Logger.write("vox-dispatch: stop requested through the session access URL");
  recordOutcome("stopped", true);
  hangUpAndEnd();
}

// ---- voicemail detection -----------------------------------------------------------------

function createVoicemailDetector() {
  const detector = AMD.create({ model: AMD.Model[VOICEMAIL_MODEL] });
  detector.addEventListener(AMD.Events.DetectionComplete, onDetectionComplete);
  detector.addEventListener(AMD.Events.DetectionError, onDetectionError);
  return detector;
}

function onDetectionComplete(event) {
  if (event.resultClass === AMD.ResultClass.VOICEMAIL) {
    onVoicemail();
    return;
  }
  // The call has ended: Disconnected follows and ends the session.
  if (event.resultClass === AMD.ResultClass.CALL_ENDED) return;
  // A person, or no verdict in time: talk rather than drop someone who answered.
  session.screened = true;
  startTalkingWhenReady();
}

function onDetectionError(event) {
  Logger.write("vox-dispatch: voicemail detection failed: " + event.message);
  session.screened = true;
  startTalkingWhenReady();
}

// ADAPT: what to do on a voicemail. This hangs up; to leave a message instead, replace the last
// line with: speak("<your message>", hangUpAndEnd);
function onVoicemail() {
  recordOutcome("voicemail", true);
  hangUpAndEnd();
}

// ---- the conversation: ADAPT everything in this section ------------------------------------

// ADAPT: the example asks for a yes/no by key press. A key sets the campaign's own outcome
// ("confirmed" / "declined"); any name matching OUTCOME_PATTERN works.
const ANSWERS_BY_KEY = {
  1: { outcome: "confirmed", reply: "Thank you, your appointment is confirmed. Goodbye." },
  2: { outcome: "declined", reply: "Thank you, we have noted that you cannot come. Goodbye." },
};

function startTalkingWhenReady() {
  if (!session.connected || !session.screened || session.talking || session.callEnded) return;
  session.talking = true;
  session.call.handleTones(true);
  const name = typeof session.row.name === "string" ? session.row.name : "";
  // ADAPT: the question.
  speak(
    "Hello" + (name ? " " + name : "") + ". This is a reminder of your appointment. " +
      "Press 1 to confirm it, or 2 if you cannot come.",
    waitForAnswer,
  );
}

function waitForAnswer() {
  session.answerTimer = setTimeout(onNoAnswer, ANSWER_TIMEOUT_MS);
}

function onNoAnswer() {
  session.answerTimer = null;
  // ADAPT: the goodbye when no key was pressed; the outcome stays "answered".
  speak("We did not receive an answer. Goodbye.", hangUpAndEnd);
}

function onToneReceived(event) {
  if (session.outcomeFinal || !Object.prototype.hasOwnProperty.call(ANSWERS_BY_KEY, event.tone)) {
    return;
  }
  const answer = ANSWERS_BY_KEY[event.tone];
  recordOutcome(answer.outcome, true);
  if (session.answerTimer !== null) {
    clearTimeout(session.answerTimer);
    session.answerTimer = null;
  }
  const reply = () => speak(answer.reply, hangUpAndEnd);
  // A key pressed during the question is answered once the question has finished playing.
  if (session.speaking) session.afterSpeech = reply;
  else reply();
}

function speak(text, then) {
  session.speaking = true;
  session.afterSpeech = then;
  session.call.say(text, { voice: VOICE });
}

function onPlaybackFinished() {
  const next = session.afterSpeech;
  session.speaking = false;
  session.afterSpeech = null;
  if (next !== null) next();
}

// ---- outcome and ending: CONTRACT with vox-dispatch ----------------------------------------

// CONTRACT with vox-dispatch: a final outcome is never replaced; the outcome goes into the call's
// custom data, or, only when no call exists, into the session's (see recordWithoutCall).
function recordOutcome(outcome, final) {
  if (session.outcomeFinal) return;
  if (!OUTCOME_PATTERN.test(outcome)) {
    throw new Error("outcome " + JSON.stringify(outcome) + " does not match " + OUTCOME_PATTERN);
  }
  session.outcome = outcome;
  session.outcomeFinal = final;
  if (session.call !== null) session.call.customData(JSON.stringify({ outcome: outcome }));
  else recordWithoutCall(outcome);
}

// CONTRACT with vox-dispatch: the sent object plus an "outcome" key. The text is extended, not
// re-serialised, so every byte that was sent (key order, escapes) stays as it was.
function recordWithoutCall(outcome) {
  if (session.row === null) {
    Logger.write("vox-dispatch: outcome " + outcome + " not recorded: the custom data is not JSON");
    return;
  }
  const open = session.sent.trim().slice(0, -1).trimEnd();
  const separator = open.endsWith("{") ? "" : ",";
  const text = open + separator + '"outcome":' + JSON.stringify(outcome) + "}";
  if (utf8Length(text) > CUSTOM_DATA_MAX_BYTES) {
    Logger.write("vox-dispatch: outcome " + outcome + " not recorded: custom data would pass 200 bytes");
    return;
  }
  VoxEngine.customData(text);
}

function utf8Length(text) {
  let bytes = 0;
  for (const character of text) {
    const code = character.codePointAt(0);
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
  }
  return bytes;
}

function hangUpAndEnd() {
  if (session.call !== null && !session.callEnded) {
    session.callEnded = true;
    session.call.hangup();
  }
  endSession();
}

function endSession() {
  if (session.terminated) return;
  session.terminated = true;
  VoxEngine.terminate();
}
