"use strict";
/*
 * A stand-in for exactly the part of VoxEngine the reference scenario touches, nothing more.
 *
 * Every namespace and object the scenario sees is "strict": reading a member that is not modelled
 * here throws, so a scenario change that starts using new API fails the tests until the stand-in
 * learns it (from the VoxEngine reference, not by guessing). Calls that VoxEngine documents as
 * limited are checked too: custom data over 200 bytes, handlers that are not functions, say() on
 * a call that is not connected, hangup() on a call that has ended.
 *
 * Each violation is also collected (StandInError.raised) even if the scenario catches it.
 *
 * The platform records everything the scenario does in `journal`; the harness (run.js) drives
 * events into it and reports the journal and the final state as JSON.
 */

const CUSTOM_DATA_MAX_BYTES = 200;

// Every violation is also kept here, so a scenario that catches the error (a try/catch around
// callPSTN, say) cannot hide it: the harness reports them all.
class StandInError extends Error {
  constructor(message) {
    super(message);
    StandInError.raised.push(message);
  }
}
StandInError.raised = [];

function strict(name, members) {
  return new Proxy(members, {
    get(target, key, receiver) {
      if (typeof key === "symbol" || key in target) return Reflect.get(target, key, receiver);
      throw new StandInError(
        `${name}.${key} is not modelled by tests/voxengine/standin.js; ` +
          "if the scenario needs it, add it there from the VoxEngine reference",
      );
    },
    set(target, key) {
      throw new StandInError(`${name}.${String(key)} is read-only in the stand-in`);
    },
  });
}

function enumeration(name, members) {
  const values = {};
  for (const member of members) values[member] = `${name}.${member}`;
  return strict(name, values);
}

const AppEvents = enumeration("AppEvents", ["Started", "HttpRequest"]);
const CallEvents = enumeration("CallEvents", [
  "Connected",
  "Disconnected",
  "Failed",
  "PlaybackFinished",
  "ToneReceived",
]);
const Modules = enumeration("Modules", ["AMD"]);
const VoiceList = strict("VoiceList", {
  Amazon: enumeration("VoiceList.Amazon", ["en_US_Joanna"]),
});
// Model names as listed for AMD.Model; the stand-in only needs them to exist.
const AMD_MODELS = ["BR", "CL", "CO", "ES", "EU_GENERAL", "KZ", "MX", "PE", "PH", "RU", "US"];
const AMD_NAMESPACE = strict("AMD", {
  Model: enumeration("AMD.Model", AMD_MODELS),
  Events: enumeration("AMD.Events", ["DetectionComplete", "DetectionError"]),
  ResultClass: enumeration("AMD.ResultClass", ["HUMAN", "VOICEMAIL", "TIMEOUT", "CALL_ENDED"]),
});

function utf8Length(text) {
  return Buffer.byteLength(text, "utf8");
}

function checkCustomData(owner, value) {
  if (typeof value !== "string") throw new StandInError(`${owner}.customData() takes a string`);
  if (utf8Length(value) > CUSTOM_DATA_MAX_BYTES) {
    throw new StandInError(`${owner}.customData(): ${utf8Length(value)} bytes is over 200`);
  }
}

function checkKeys(what, object, allowed) {
  if (object === undefined) return;
  if (object === null || typeof object !== "object") throw new StandInError(`${what} must be an object`);
  for (const key of Object.keys(object)) {
    if (!allowed.includes(key)) throw new StandInError(`${what}.${key} is not modelled`);
  }
}

class Listeners {
  constructor(owner, events) {
    this.owner = owner;
    this.events = events;
    this.handlers = new Map();
  }

  add(event, handler) {
    if (!Object.values(this.events).includes(event)) {
      throw new StandInError(`${this.owner}.addEventListener: unknown event ${String(event)}`);
    }
    if (typeof handler !== "function") {
      throw new StandInError(`${this.owner}.addEventListener: the handler must be a function`);
    }
    if (!this.handlers.has(event)) this.handlers.set(event, []);
    this.handlers.get(event).push(handler);
  }

  emit(event, payload) {
    for (const handler of this.handlers.get(event) || []) handler(payload);
  }
}

class StandInCall {
  constructor(platform, number, callerid, parameters) {
    this.platform = platform;
    this.record = {
      number,
      callerid,
      amd: parameters !== undefined && parameters.amd !== undefined,
      customData: null,
      connected: false,
      ended: false,
      hungUp: false,
      handleTones: false,
      said: [],
    };
    this.detector = parameters === undefined ? undefined : parameters.amd;
    this.listeners = new Listeners("Call", CallEvents);
    const self = this;
    const journal = (...entry) => platform.journal.push(["call", ...entry]);
    this.api = strict("Call", {
      addEventListener(event, handler) {
        self.listeners.add(event, handler);
      },
      customData(value) {
        if (arguments.length === 0) return self.record.customData;
        checkCustomData("Call", value);
        journal("customData", value);
        self.record.customData = value;
        return undefined;
      },
      handleTones(enabled) {
        journal("handleTones", enabled);
        self.record.handleTones = Boolean(enabled);
      },
      say(text, parameters) {
        if (typeof text !== "string") throw new StandInError("Call.say() takes the text first");
        checkKeys("CallSayParameters", parameters, ["voice"]);
        if (!self.record.connected || self.record.ended) {
          throw new StandInError("Call.say() on a call that is not connected");
        }
        journal("say", text);
        self.record.said.push(text);
      },
      hangup() {
        if (self.record.ended) throw new StandInError("Call.hangup() on a call that has ended");
        journal("hangup");
        self.record.hungUp = true;
        self.end();
        // The platform reports the end of the call after the handler returns.
        if (self.record.connected) platform.later("Disconnected", () => self.emit("Disconnected", {}));
        else {
          const fields = { code: 487, reason: "Request Terminated" };
          platform.later("Failed 487", () => self.emit("Failed", fields));
        }
      },
    });
  }

  end() {
    this.record.ended = true;
  }

  emit(name, fields) {
    const event = CallEvents[name];
    if (name === "Connected") this.record.connected = true;
    if (name === "Disconnected" || name === "Failed") this.end();
    this.listeners.emit(event, strict(`CallEvents.${name} event`, { call: this.api, ...fields }));
  }
}

class StandInDetector {
  constructor(platform, parameters) {
    checkKeys("AMD.Parameters", parameters, ["model", "timeout", "thresholds"]);
    if (!Object.values(AMD_NAMESPACE.Model).includes(parameters.model)) {
      throw new StandInError("AMD.create(): model must be an AMD.Model value");
    }
    this.model = parameters.model;
    this.listeners = new Listeners("AnsweringMachineDetector", AMD_NAMESPACE.Events);
    const self = this;
    this.api = strict("AnsweringMachineDetector", {
      addEventListener(event, handler) {
        self.listeners.add(event, handler);
      },
    });
    platform.journal.push(["AMD.create", parameters.model]);
  }
}

class Platform {
  constructor(customData) {
    this.sessionCustomData = customData;
    this.journal = [];
    this.log = [];
    this.calls = [];
    this.detectors = new Map();
    this.queue = [];
    this.dropped = [];
    this.timers = new Map();
    this.nextTimer = 1;
    this.now = 0;
    this.terminated = false;
    this.terminateCount = 0;
    this.modules = new Set();
    this.app = new Listeners("VoxEngine", AppEvents);
    this.globals = this.makeGlobals();
  }

  later(description, action) {
    this.queue.push({ description, action });
  }

  // Deliver what the platform reports on its own (a hang-up's Disconnected); a terminated
  // session receives nothing more.
  drain() {
    while (this.queue.length > 0) {
      const { description, action } = this.queue.shift();
      if (this.terminated) this.dropped.push(description);
      else action();
    }
  }

  makeGlobals() {
    const platform = this;
    const VoxEngine = strict("VoxEngine", {
      addEventListener(event, handler) {
        platform.app.add(event, handler);
      },
      customData(value) {
        if (arguments.length === 0) return platform.sessionCustomData;
        checkCustomData("VoxEngine", value);
        platform.journal.push(["VoxEngine.customData", value]);
        platform.sessionCustomData = value;
        return undefined;
      },
      callPSTN(number, callerid, parameters) {
        if (typeof number !== "string" || typeof callerid !== "string") {
          throw new StandInError("VoxEngine.callPSTN(number, callerid) takes two strings");
        }
        checkKeys("CallPSTNParameters", parameters, ["amd"]);
        platform.journal.push(["VoxEngine.callPSTN", number, callerid]);
        const call = new StandInCall(platform, number, callerid, parameters);
        platform.calls.push(call);
        return call.api;
      },
      terminate() {
        platform.journal.push(["VoxEngine.terminate"]);
        platform.terminated = true;
        platform.terminateCount += 1;
      },
    });
    const AMD = strict("AMD", {
      Model: AMD_NAMESPACE.Model,
      Events: AMD_NAMESPACE.Events,
      ResultClass: AMD_NAMESPACE.ResultClass,
      create(parameters) {
        const detector = new StandInDetector(platform, parameters);
        platform.detectors.set(detector.api, detector);
        return detector.api;
      },
    });
    const globals = {
      VoxEngine,
      AppEvents,
      CallEvents,
      Modules,
      VoiceList,
      Logger: strict("Logger", {
        write(text) {
          platform.log.push(String(text));
        },
      }),
      require(module) {
        if (!Object.values(Modules).includes(module)) {
          throw new StandInError(`require(${String(module)}): not a Modules value`);
        }
        platform.journal.push(["require", module]);
        platform.modules.add(module);
      },
      setTimeout(callback, delay) {
        if (typeof callback !== "function") throw new StandInError("setTimeout needs a function");
        const id = platform.nextTimer++;
        platform.timers.set(id, { at: platform.now + delay, callback });
        platform.journal.push(["setTimeout", delay]);
        return id;
      },
      clearTimeout(id) {
        platform.journal.push(["clearTimeout"]);
        platform.timers.delete(id);
      },
    };
    // VoxEngine defines AMD only once the scenario has required Modules.AMD.
    Object.defineProperty(globals, "AMD", {
      enumerable: true,
      get() {
        if (!platform.modules.has(Modules.AMD)) {
          throw new StandInError("AMD used before require(Modules.AMD)");
        }
        return AMD;
      },
    });
    return globals;
  }

  detectorOf(call) {
    const detector = this.detectors.get(call.detector);
    if (detector === undefined) throw new StandInError("this call was placed without a detector");
    return detector;
  }

  advance(milliseconds) {
    this.now += milliseconds;
    const due = [...this.timers.entries()]
      .filter(([, timer]) => timer.at <= this.now)
      .sort((a, b) => a[1].at - b[1].at);
    for (const [id, timer] of due) {
      if (this.terminated) return;
      if (!this.timers.has(id)) continue;
      this.timers.delete(id);
      timer.callback();
    }
  }
}

module.exports = { Platform, StandInError, strict, CallEvents };
