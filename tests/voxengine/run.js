"use strict";
/*
 * Drives a VoxEngine scenario through scripted sessions on the stand-in and prints what happened.
 *
 *   node tests/voxengine/run.js < stories.json
 *
 * Input: one story or a list of stories:
 *   {"scenario": "<path to the .js>", "customData": "<session custom data>", "steps": [...]}
 * The session starts (AppEvents.Started) before the first step. Steps:
 *   {"call": "Connected" | "Disconnected" | "PlaybackFinished"}   an event on the placed call
 *   {"call": "Failed", "code": 486, "reason": "Busy Here"}
 *   {"call": "ToneReceived", "tone": "1"}
 *   {"app": "HttpRequest"}                                       a request to the access URL
 *   {"amd": "HUMAN" | "VOICEMAIL" | "TIMEOUT" | "CALL_ENDED"}    the detector's verdict
 *   {"amdError": "<message>"}
 *   {"advance": <milliseconds>}                                  the clock moves; timers fire
 * Steps after the session terminated are not delivered; they are listed in "dropped".
 *
 * Output: the same shape (one result or a list) with, per story: "error" (what the scenario threw,
 * or null), "standInErrors" (every use of API the stand-in does not model or allow, even if the
 * scenario caught the error), "terminated", "terminateCount", "sessionCustomData", "calls" (each with "outcome"
 * parsed from its custom data), "log", "journal", "dropped", "pendingTimers", and
 * "idleWithoutCall" (true if after any step the session was neither terminated nor had a call
 * in progress: a session VoxEngine would keep for up to a minute).
 */

const fs = require("node:fs");
const vm = require("node:vm");
const { Platform, StandInError, strict } = require("./standin.js");

class StoryError extends Error {}

function lastCall(platform) {
  const call = platform.calls[platform.calls.length - 1];
  if (call === undefined) throw new StoryError("the step needs a call, and none was placed");
  return call;
}

function deliver(platform, step) {
  if ("call" in step) {
    const { call: name, ...fields } = step;
    lastCall(platform).emit(name, fields);
  } else if ("app" in step) {
    const request = { method: "POST", path: "/", content: "", headers: {} };
    platform.app.emit(`AppEvents.${step.app}`, strict(`AppEvents.${step.app} event`, request));
  } else if ("amd" in step) {
    const call = lastCall(platform);
    const resultClass = `AMD.ResultClass.${step.amd}`;
    const event = { call: call.api, callId: "call-1", resultClass, confidence: 90 };
    platform.detectorOf(call).listeners.emit("AMD.Events.DetectionComplete", strict("event", event));
  } else if ("amdError" in step) {
    const event = strict("event", { callId: "call-1", message: step.amdError });
    platform.detectorOf(lastCall(platform)).listeners.emit("AMD.Events.DetectionError", event);
  } else if ("advance" in step) {
    platform.advance(step.advance);
  } else {
    throw new StoryError(`unknown step ${JSON.stringify(step)}`);
  }
}

function idle(platform) {
  return !platform.terminated && !platform.calls.some((call) => !call.record.ended);
}

function play(story) {
  StandInError.raised.length = 0;
  const platform = new Platform(story.customData);
  const result = { error: null, idleWithoutCall: false };
  const context = vm.createContext(platform.globals);
  const steps = [{ start: true }, ...(story.steps || [])];
  try {
    vm.runInContext(fs.readFileSync(story.scenario, "utf8"), context, { filename: story.scenario });
    for (const step of steps) {
      if (platform.terminated) {
        platform.dropped.push(step);
        continue;
      }
      if (step.start) platform.app.emit("AppEvents.Started", strict("event", { sessionID: 1 }));
      else deliver(platform, step);
      platform.drain();
      result.idleWithoutCall = result.idleWithoutCall || idle(platform);
    }
  } catch (error) {
    if (error instanceof StoryError) throw error;
    result.error = `${error instanceof StandInError ? "stand-in: " : ""}${error.message}`;
  }
  return {
    ...result,
    standInErrors: [...StandInError.raised],
    terminated: platform.terminated,
    terminateCount: platform.terminateCount,
    sessionCustomData: platform.sessionCustomData,
    calls: platform.calls.map((call) => ({
      ...call.record,
      outcome: call.record.customData === null ? null : JSON.parse(call.record.customData).outcome,
    })),
    log: platform.log,
    journal: platform.journal,
    dropped: platform.dropped,
    pendingTimers: platform.timers.size,
  };
}

const input = JSON.parse(fs.readFileSync(0, "utf8"));
try {
  const output = Array.isArray(input) ? input.map(play) : play(input);
  process.stdout.write(JSON.stringify(output));
} catch (error) {
  process.stderr.write(`run.js: ${error.message}\n`);
  process.exit(2);
}
