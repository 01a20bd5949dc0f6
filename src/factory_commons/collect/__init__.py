"""Getting data in: connectors (MQTT, Sparkplug B, OPC UA, Modbus, files), a durable local
buffer, and a deterministic factory simulator for demos, tests and benchmarks."""
