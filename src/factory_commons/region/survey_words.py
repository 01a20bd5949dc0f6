"""The header and answer words a survey file is recognised by (Korean and English): data, not messages.

Header matching is on the normalised header (lower case, spaces, dots, dashes and underscores
removed). A question column is its id (`co_rnd`) or one of its Korean names here.
"""

from __future__ import annotations

#: field -> header names (normalised) that mean it
FIELD_HEADERS: dict[str, tuple[str, ...]] = {
    "respondent": ("respondent", "respondentid", "id", "응답자", "응답자id", "응답번호", "설문번호", "번호"),
    "firm_id": ("firmid", "firm", "업체id", "기업id", "업체코드"),
    "district": ("district", "구", "자치구", "구군", "지역", "소재지"),
    "industry": ("industry", "업종", "업종구분"),
    "size": ("size", "규모", "기업규모"),
    "employees": ("employees", "종사자수", "종업원수", "직원수", "상시근로자수"),
    "weight": ("weight", "가중치", "표본가중치"),
    "stratum": ("stratum", "층", "표본층", "층화"),
}

#: question id -> Korean header names (normalised)
QUESTION_HEADERS: dict[str, tuple[str, ...]] = {
    "new_product_linkage": ("신제품연계", "신제품공동개발", "연구기관연계"),
    "co_rnd": ("공동r&d", "공동연구개발", "공동기술개발", "corandd"),
    "co_marketing": ("공동광고", "공동마케팅", "공동홍보"),
    "co_market_research": ("공동시장조사", "시장조사협력"),
    "co_sales": ("공동판매", "공동영업"),
    "co_purchasing": ("공동구매", "공동구입"),
}

YES: frozenset[str] = frozenset(
    {"1", "1.0", "y", "yes", "true", "o", "예", "네", "있음", "있다", "함", "그렇다"}
)
NO: frozenset[str] = frozenset(
    {"0", "0.0", "n", "no", "false", "x", "아니오", "아니요", "없음", "없다", "안함", "아니다"}
)

#: size words -> size class (the Korean names of SME classes, and ours)
SIZE_WORDS: dict[str, str] = {
    "micro": "micro",
    "small": "small",
    "medium": "medium",
    "large": "large",
    "소공인": "micro",
    "소상공인": "micro",
    "소기업": "small",
    "중기업": "medium",
    "중견기업": "large",
    "대기업": "large",
}

#: Korean industry names -> the sample region's kinds of shop
INDUSTRY_WORDS: dict[str, str] = {
    "기계가공": "machining",
    "가공": "machining",
    "정밀가공": "precision",
    "금형": "precision",
    "판금": "sheet_metal",
    "프레스": "press",
    "용접": "welding",
    "사출": "plastics",
    "플라스틱": "plastics",
    "주조": "casting",
    "주물": "casting",
    "도금": "surface",
    "표면처리": "surface",
    "도장": "coating",
    "열처리": "heat",
    "단조": "forging",
    "3d프린팅": "additive",
}
