"""User-facing labels in Korean and English; shop people read Korean first."""

from __future__ import annotations

LABELS: dict[str, tuple[str, str]] = {
    "oee": ("종합설비효율", "OEE"),
    "availability": ("시간가동률", "Availability"),
    "effectiveness": ("성능가동률", "Performance"),
    "quality_ratio": ("양품률", "Quality"),
    "machine": ("설비", "Machine"),
    "line": ("라인", "Line"),
    "day": ("일자", "Day"),
    "shift": ("근무조", "Shift"),
    "order": ("작업지시", "Order"),
    "produced_quantity": ("생산수량", "Produced"),
    "good_quantity": ("양품수량", "Good"),
    "scrap_ratio": ("불량률", "Scrap ratio"),
    "mtbf_s": ("평균고장간격", "MTBF"),
    "mttr_s": ("평균수리시간", "MTTR"),
    "planned_busy_time_s": ("계획가동시간", "Planned busy time"),
    "loss_breakdowns_s": ("고장 정지", "Breakdowns"),
    "loss_setup_s": ("작업준비·조정", "Setup & adjustment"),
    "loss_idling_s": ("대기·공회전", "Idling"),
    "loss_minor_stops_s": ("순간 정지", "Minor stops"),
    "loss_reduced_speed_s": ("속도 저하", "Reduced speed"),
    "loss_defects_s": ("공정 불량", "Process defects"),
    "loss_reduced_yield_s": ("초기 수율 저하", "Reduced yield (startup)"),
    "fully_productive": ("완전생산시간", "Fully productive time"),
    "lost_time": ("손실시간", "Lost time"),
    "top_losses": ("주요 손실", "Top losses"),
    "worst_machines": ("OEE 하위 설비", "Worst machines"),
    "oee_by_line": ("라인별 OEE", "OEE by line"),
    "oee_by_machine": ("설비별 OEE", "OEE by machine"),
    "oee_trend": ("일별 OEE 추이", "Daily OEE trend"),
    "loss_waterfall": ("손실 폭포 차트", "Loss waterfall"),
    "downtime_pareto": ("정지 사유 파레토", "Downtime Pareto"),
    "reason": ("사유", "Reason"),
    "hours": ("시간", "hours"),
    "share": ("비율", "Share"),
    "report_title": ("공장 성과 보고서", "Factory performance report"),
    "period": ("기간", "Period"),
    "simulating": ("공장 시뮬레이션 중", "Simulating the factory"),
}


def label(key: str, lang: str = "both") -> str:
    """'ko', 'en' or 'both' ("한국어 English")."""
    ko, en = LABELS.get(key, (key, key))
    if lang == "ko":
        return ko
    if lang == "en":
        return en
    return f"{ko} {en}"
