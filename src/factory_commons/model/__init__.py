"""The standard data model: ISA-95 hierarchy, UNS topics, typed records, shift calendars."""

from .calendar import PlannedBreak, Shift, ShiftCalendar, timeline_table
from .hierarchy import LEVELS, Machine, parse_machine_path, uns_topic
from .records import (
    RECORD_TYPES,
    Alarm,
    AnomalyAlert,
    MachineState,
    PartCount,
    ProductionOrder,
    QualityMeasurement,
    Record,
    RecordError,
    Severity,
    Signal,
    StateChange,
    parse_record,
)

__all__ = [
    "LEVELS",
    "RECORD_TYPES",
    "Alarm",
    "AnomalyAlert",
    "Machine",
    "MachineState",
    "PartCount",
    "PlannedBreak",
    "ProductionOrder",
    "QualityMeasurement",
    "Record",
    "RecordError",
    "Severity",
    "Shift",
    "ShiftCalendar",
    "Signal",
    "StateChange",
    "parse_machine_path",
    "parse_record",
    "timeline_table",
    "uns_topic",
]
