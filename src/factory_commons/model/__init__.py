"""The standard data model: ISA-95 hierarchy, UNS topics, typed records, shift calendars,
the product master."""

from .calendar import PlannedBreak, Shift, ShiftCalendar, timeline_table
from .hierarchy import LEVELS, Machine, check_timezone, parse_machine_path, uns_topic
from .master import DEFAULT_PLANT_TIMEZONE, Product
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
    "DEFAULT_PLANT_TIMEZONE",
    "LEVELS",
    "RECORD_TYPES",
    "Alarm",
    "AnomalyAlert",
    "Machine",
    "MachineState",
    "PartCount",
    "PlannedBreak",
    "Product",
    "ProductionOrder",
    "QualityMeasurement",
    "Record",
    "RecordError",
    "Severity",
    "Shift",
    "ShiftCalendar",
    "Signal",
    "StateChange",
    "check_timezone",
    "parse_machine_path",
    "parse_record",
    "timeline_table",
    "uns_topic",
]
