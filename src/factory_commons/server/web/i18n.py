"""Labels of the web dashboard in Korean and English (KPI names come from factory_commons.i18n)."""

from __future__ import annotations

from ...accounts.stop_reasons import DEFAULT_STOP_REASONS
from ...i18n import KPI, STATES

LANGS = ("ko", "en")
DEFAULT_LANG = "ko"
LANG_COOKIE = "lang"

WEB_LABELS: dict[str, tuple[str, str]] = {
    "app": ("Factory Commons 대시보드", "Factory Commons dashboard"),
    "overview": ("공장 현황", "Plant overview"),
    "stops": ("정지 사유 입력", "Stop reasons"),
    "settings": ("설정", "Settings"),
    "machine_page": ("설비 상세", "Machine"),
    "login": ("로그인", "Log in"),
    "commons": ("공유 공간", "Commons"),  # the commons pages (server/web/commons.py)
    "catalog": ("기업 카탈로그", "Firm catalog"),
    "logout": ("로그아웃", "Log out"),
    "email": ("이메일", "E-mail"),
    "password": ("비밀번호", "Password"),
    "login_failed": ("이메일 또는 비밀번호가 틀렸습니다", "Wrong e-mail or password"),
    "state": ("상태", "State"),
    "since": ("변경 시각", "Since"),
    "today_oee": ("오늘 OEE", "Today's OEE"),
    "no_machines": ("볼 수 있는 설비가 없습니다", "No machines to show"),
    "no_data": ("데이터가 없습니다", "No data"),
    "days": ("일", "days"),
    "last_days": ("최근", "Last"),
    "signals": ("신호 추이", "Signal trends"),
    "alarms": ("알람", "Alarms"),
    "rollup_note": (
        "원시 신호는 보존 기간이 지나 지워졌습니다. 그 구간은 1분 평균(signals_1m)으로 그렸습니다.",
        "Raw signals are gone (past retention); that stretch is drawn from the 1-minute means (signals_1m).",
    ),
    "code": ("코드", "Code"),
    "severity": ("심각도", "Severity"),
    "message": ("메시지", "Message"),
    "time": ("시각", "Time"),
    "episodes": ("횟수", "Episodes"),
    "stopped_machines": ("멈춘 설비", "Stopped machines"),
    "no_stopped": ("멈춘 설비가 없습니다", "No machine is stopped"),
    "current_reason": ("현재 사유", "Current reason"),
    "recorded": ("정지 사유를 기록했습니다", "Stop reason recorded"),
    "not_stopped": ("그 설비는 멈춰 있지 않습니다", "That machine is not stopped"),
    "not_allowed": ("권한이 없습니다", "Not allowed"),
    "tap_reason": ("정지 사유를 누르세요", "Tap the reason"),
    "auto_refresh": ("자동 새로고침", "auto refresh"),
    "running": ("가동", "Running"),
    "idle": ("대기", "Idle"),
    "setup": ("작업준비", "Setup"),
    "unplanned_down": ("비계획 정지", "Unplanned down"),
    "planned_stop": ("계획 정지", "Planned stop"),
    "no_order": ("작업 없음", "No order"),
    "unknown": ("알 수 없음", "Unknown"),
    "micro_stop": ("순간 정지", "Micro stop"),
    "(none)": ("사유 없음", "No reason"),
    # reason codes of the demo plant (collect/simulator.py); unknown codes are shown as they are
    "operator_check": ("작업자 점검", "Operator check"),
    "changeover": ("품종 교체", "Changeover"),
    "lunch": ("점심", "Lunch"),
    "meal": ("식사", "Meal"),
    "tea": ("휴식", "Tea break"),
    "off_shift": ("근무 외", "Off shift"),
    "chip_clearing": ("칩 제거", "Chip clearing"),
    "door_interlock": ("도어 인터록", "Door interlock"),
    "double_blank": ("이중 블랭크", "Double blank"),
    "fixture_clamp": ("지그 클램프", "Fixture clamp"),
    "hydraulic_leak": ("유압 누유", "Hydraulic leak"),
    "light_curtain": ("광커튼 작동", "Light curtain"),
    "misfeed": ("이송 불량", "Misfeed"),
    "nozzle_cleaning": ("노즐 청소", "Nozzle cleaning"),
    "tool_offset_check": ("공구 보정 확인", "Tool offset check"),
    "wire_feed_jam": ("와이어 송급 막힘", "Wire feed jam"),
    "wire_stick": ("와이어 붙음", "Wire stick"),
}


def pick_lang(value: str | None) -> str:
    """A supported language from a cookie or query value, Korean by default."""
    return value if value in LANGS else DEFAULT_LANG


def translator(lang: str, stop_reasons: tuple[tuple[str, str, str], ...] = DEFAULT_STOP_REASONS):
    """A function key -> label in `lang`: web labels, the firm's stop reasons, then the state
    and reason-code names and the KPI labels of the catalogs (factory_commons.i18n), else the key."""
    i = 0 if lang == "ko" else 1
    table = {**WEB_LABELS, **{c: (ko, en) for c, ko, en in stop_reasons}}

    def t(key: str) -> str:
        pair = table.get(key)
        if pair:
            return pair[i]
        if STATES.has(key):
            return STATES.get(key, lang)
        return KPI.get(key, lang)

    return t
