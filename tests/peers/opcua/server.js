// An independent OPC UA server for the factory-commons interop tests (node-opcua, not asyncua).
//
// node server.js --port 4840 [--fast-ms 25] [--min-sample-ms 10] [--no-alarm] [--user U --password P]
//                [--pki DIR] [--secure]
//
// Address space: Objects/Plant (folder)/Line1 (folder)/Press1 (object) with
//   ns=1;s=Press1.Temp       Double, a new value every --fast-ms (0: never changes by itself)
//   ns=1;s=Press1.State      Int32 state code, 1 (running)
//   ns=1;s=Press1.PartCount  UInt32 running total, +1 every 200 ms
//   ns=1;s=Press1.Alarm      Boolean, true (active); left out with --no-alarm (a PLC program
//                            changed while the collector was away)
//   ns=1;s=Press1.Status     String "running"
// Every value the server produces is written to stdout as one JSON line
//   {"node": "Temp", "value": 12.5, "ts": "2026-...Z"}
// so a test can count what was produced against what was stored. The first line is
//   {"ready": PORT}
// once the server listens. With --user/--password only that user may open a session.
// --secure: the only endpoint is Basic256Sha256 SignAndEncrypt (its certificate is generated
// into DIR/server/own/ on first start; any client certificate is accepted).
// --min-sample-ms is the MinSupportedSampleRate the server advertises (node-opcua's default is
// 50 ms): a client asking for sampling 0 gets every change, coalesced over that window.
"use strict";

const path = require("path");
const os = require("os");
const {
    OPCUAServer,
    OPCUACertificateManager,
    DataType,
    DataValue,
    Variant,
    StatusCodes,
    nodesets,
    MessageSecurityMode,
    SecurityPolicy,
} = require("node-opcua");

function parseArgs(argv) {
    const args = { port: 4840, fastMs: 25, minSampleMs: 10, alarm: true, user: null, password: null, pki: null };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--port") args.port = parseInt(argv[++i], 10);
        else if (a === "--fast-ms") args.fastMs = parseInt(argv[++i], 10);
        else if (a === "--min-sample-ms") args.minSampleMs = parseInt(argv[++i], 10);
        else if (a === "--no-alarm") args.alarm = false;
        else if (a === "--user") args.user = argv[++i];
        else if (a === "--password") args.password = argv[++i];
        else if (a === "--pki") args.pki = argv[++i];
        else if (a === "--secure") args.secure = true;
        else throw new Error("unknown argument " + a);
    }
    return args;
}

function log(obj) {
    process.stdout.write(JSON.stringify(obj) + "\n");
}

async function main() {
    const args = parseArgs(process.argv.slice(2));
    const pki = args.pki || path.join(os.tmpdir(), "factory-commons-opcua-peer-pki");
    const serverCertificateManager = new OPCUACertificateManager({
        automaticallyAcceptUnknownCertificate: true,
        rootFolder: path.join(pki, "server"),
    });
    const options = {
        port: args.port,
        hostname: "127.0.0.1",
        resourcePath: "/fc",
        nodeset_filename: [nodesets.standard],
        serverCertificateManager,
        buildInfo: { productName: "factory-commons node-opcua peer" },
        serverCapabilities: { minSupportedSampleRate: args.minSampleMs },
    };
    if (args.secure) {
        options.securityModes = [MessageSecurityMode.SignAndEncrypt];
        options.securityPolicies = [SecurityPolicy.Basic256Sha256];
    }
    if (args.user) {
        options.allowAnonymous = false;
        options.userManager = {
            isValidUser: (user, password) => user === args.user && password === args.password,
        };
    }
    const server = new OPCUAServer(options);
    await server.initialize();

    const addressSpace = server.engine.addressSpace;
    const ns = addressSpace.getOwnNamespace();
    const plant = ns.addFolder(addressSpace.rootFolder.objects, { browseName: "Plant" });
    const line = ns.addFolder(plant, { browseName: "Line1" });
    const press = ns.addObject({ organizedBy: line, browseName: "Press1" });

    const vars = {};
    function variable(name, dataType, value) {
        const v = ns.addVariable({
            componentOf: press,
            browseName: name,
            nodeId: `s=Press1.${name}`,
            dataType,
            minimumSamplingInterval: 0, // sampled on every change (exception based)
        });
        vars[name] = { v, dataType };
        produce(name, value);
    }
    function produce(name, value) {
        const { v, dataType } = vars[name];
        const ts = new Date();
        v.setValueFromSource(new Variant({ dataType, value }), StatusCodes.Good, ts);
        log({ node: name, value, ts: ts.toISOString() });
    }

    variable("Temp", DataType.Double, 20.0);
    variable("State", DataType.Int32, 1);
    variable("PartCount", DataType.UInt32, 0);
    if (args.alarm) variable("Alarm", DataType.Boolean, true);
    variable("Status", DataType.String, "running");

    await server.start();
    log({ ready: args.port, endpoint: server.getEndpointUrl() });

    let temp = 20.0;
    if (args.fastMs > 0) {
        setInterval(() => {
            temp = Math.round((temp + 0.25) * 100) / 100;
            if (temp > 90) temp = 20.0;
            produce("Temp", temp);
        }, args.fastMs);
    }
    let count = 0;
    setInterval(() => produce("PartCount", ++count), 200);

    const shutdown = () => server.shutdown(0).then(() => process.exit(0));
    process.on("SIGTERM", shutdown);
    process.on("SIGINT", shutdown);
}

main().catch((err) => {
    process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
    process.exit(1);
});
