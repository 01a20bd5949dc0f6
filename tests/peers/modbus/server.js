// An independent Modbus TCP server for the interop tests: modbus-serial's ServerTCP (npm),
// not pymodbus, so that the collector and its test peer cannot share a misunderstanding.
//
// It plays a gateway with some units (slave ids) behind it: units in `units` answer, units in
// `silent` never answer (as a gateway whose RS-485 device is off), every other unit is
// ignored too. Each answering unit runs the same machine program, a function of the wall
// clock since `origin_ms` (so a restarted server continues where the program is):
//
//   step k = clamp(floor((now - origin_ms) / step_ms), 0, steps)
//   holding 0     state code      [1, 2, 3][(k + unit) % 3]
//   holding 1..2  uint32 total    parts made up to step k (+ a base near 2^32 for even units)
//   holding 3..4  float32 signal  unit * 10 + k * 0.5
//   coil 0        alarm           k % 4 >= 2
//   32-bit values are high word first for odd units, low word first for even units.
//
// It writes one JSON line per event to `log` (and stdout): "start", "listening", every "step" of every
// unit with the values it serves from then on, and every "read" it answers or ignores, so a
// test counts what was produced against what was stored from the peer's own log.
//
// usage: node server.js '{"port": 5020, "units": [1, 2], "silent": [3], "origin_ms": ...,
//                         "step_ms": 400, "steps": 20, "log": "/tmp/peer.jsonl"}'
"use strict";

const fs = require("fs");
const ModbusRTU = require("modbus-serial");

const cfg = JSON.parse(process.argv[2]);
const host = cfg.host || "127.0.0.1";
const units = new Set(cfg.units || [1]);
const silent = new Set(cfg.silent || []);
const logFd = cfg.log ? fs.openSync(cfg.log, "a") : null;

function log(event) {
    const line = JSON.stringify({ t: Date.now(), ...event }) + "\n";
    if (logFd !== null) fs.writeSync(logFd, line);
    process.stdout.write(line);
}

const WRAP = 2 ** 32;
const BASE = { odd: 0, even: WRAP - 10 }; // even units roll their uint32 counter over

function partsAt(unit, i) {
    return 1 + ((i + unit) % 3);
}

function program(unit, k) {
    let made = 0;
    for (let i = 1; i <= k; i++) made += partsAt(unit, i);
    const base = unit % 2 === 0 ? BASE.even : BASE.odd;
    return {
        state: [1, 2, 3][(k + unit) % 3],
        made: made,
        total: (base + made) % WRAP,
        signal: unit * 10 + k * 0.5,
        alarm: k % 4 >= 2,
    };
}

function words32(value, isFloat, lowWordFirst) {
    const b = Buffer.alloc(4);
    if (isFloat) b.writeFloatBE(value, 0);
    else b.writeUInt32BE(value, 0);
    const hi = b.readUInt16BE(0);
    const lo = b.readUInt16BE(2);
    return lowWordFirst ? [lo, hi] : [hi, lo];
}

const regs = new Map(); // unit -> holding registers
const coils = new Map(); // unit -> coils
const current = new Map(); // unit -> step served

function stepNow() {
    const k = Math.floor((Date.now() - cfg.origin_ms) / cfg.step_ms);
    return Math.max(0, Math.min(cfg.steps, k));
}

function advance() {
    const k = stepNow();
    for (const unit of units) {
        if (current.get(unit) === k) continue;
        const v = program(unit, k);
        const low = unit % 2 === 0;
        regs.set(unit, [v.state, ...words32(v.total, false, low), ...words32(v.signal, true, low)]);
        coils.set(unit, [v.alarm]);
        current.set(unit, k);
        log({ ev: "step", unit, k, ...v });
    }
}

function serve(fc, table) {
    // callback style (4 arguments): a unit that must stay silent never calls back, so no answer is sent
    return function (addr, length, unitID, callback) {
        if (!units.has(unitID)) {
            log({ ev: "ignored", unit: unitID, fc, addr, n: length, silent: silent.has(unitID) });
            return;
        }
        advance();
        const data = table.get(unitID);
        if (addr + length > data.length) {
            log({ ev: "read", unit: unitID, fc, addr, n: length, refused: 2 });
            callback({ modbusErrorCode: 0x02, msg: "illegal data address" });
            return;
        }
        log({ ev: "read", unit: unitID, fc, addr, n: length });
        callback(null, data.slice(addr, addr + length));
    };
}

function serveOne(fc, table) {
    const many = serve(fc, table);
    return function (addr, unitID, callback) {
        many(addr, 1, unitID, (err, values) => callback(err, values && values[0]));
    };
}

const vector = {
    getMultipleHoldingRegisters: serve(3, regs),
    getHoldingRegister: serveOne(3, regs),
    getCoil: serveOne(1, coils),
};

log({ ev: "start", pid: process.pid }); // a (re)started peer: the steps it serves from now on are new
advance();
setInterval(advance, 5);
const server = new ModbusRTU.ServerTCP(vector, { host, port: cfg.port, unitID: 255 });
server.on("initialized", () => log({ ev: "listening", port: cfg.port, pid: process.pid }));
server.on("serverError", (err) => {
    log({ ev: "error", error: String(err) });
    process.exit(3);
});
server.on("socketError", (err) => log({ ev: "socket_error", error: String(err) }));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
