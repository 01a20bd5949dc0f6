"""The shop-floor thesaurus: colloquial and technical words, Korean and English, for one idea.

Each concept (a key such as `leak`) lists the surface forms it is written in on a shop floor:
technical Korean (누유), colloquial Korean (기름 새요, 오일이 샌다), English (hydraulic leak,
leaking), common spacing variants. `text.concepts()` finds them in a case or a query (Korean
forms without spaces, English forms as words), so 기름 새요 and "oil leak" meet under `leak`
even where they share no character. `RELATED` links a symptom to the parts and causes it is
usually written up with (a leak is fixed at a seal), searched with a lower weight.

This is data, written here from general maintenance vocabulary (not from the evaluation set):
extend it with a shop's own words. Korean forms are matched without spaces, so write them
without spaces; English forms are matched as whole words, lower case.
"""

from __future__ import annotations

# fmt: off
#: concept -> surface forms (Korean without spaces; English lower case)
CONCEPTS: dict[str, tuple[str, ...]] = {
    "leak": (
        "누유", "누수", "누설", "새요", "샌다", "새는", "새고", "새서", "새네", "샙니다", "새어", "흘러", "흐른다", "흘러나", "떨어져요",
        "떨어짐", "번져", "젖어", "축축", "맺혀", "leak", "leaks", "leaking", "leakage", "drip", "dripping",
        "seeping", "weeping", "흥건", "고여", "고임", "고였", "뿜어", "분출", "뚝뚝", "질질", "줄줄", "스며", "배어나",
        "puddle", "spraying", "샘이", "오일샘", "기름샘", "새어나", "새나와", "바람빠", "공기빠", "에어빠", "빠지는소리",
    ),
    "oil": ("오일", "기름", "유압유", "작동유", "윤활유", "그리스", "구리스", "oil", "grease", "lubricant"),
    "water": ("물이", "물새", "물샘", "냉각수", "절삭유", "쿨런트", "쿨란트", "water", "coolant", "물기", "수분", "습기", "moisture"),
    "air": ("에어", "공압", "압축공기", "바람", "air", "pneumatic", "compressed"),
    "noise": (
        "소음", "소리", "이음", "잡음", "굉음", "끽끽", "삐걱", "덜컥", "딱딱", "탁탁", "웅웅", "윙윙", "끼익", "쇳소리", "갈리는",
        "긁히는", "noise", "noisy", "sound", "squeal", "squeak", "rattle", "grinding", "knocking",
        "humming", "whine", "쿵쿵", "쿵소리", "쾅쾅", "덜컹", "드르륵", "삑삑", "삐삐", "찍찍", "쉬익", "달그락", "딸깍", "시끄",
        "loud", "clunk", "bang", "hiss", "hissing",
    ),
    "vibration": (
        "진동", "떨림", "떨려", "떨리", "흔들", "덜덜", "부르르", "채터", "채터링", "떨린다", "vibration", "vibrate",
        "vibrating", "shaking", "shake", "chatter", "wobble", "들썩", "요동", "덜덜거", "wobbly", "휘청",
    ),
    "overheat": (
        "과열", "발열", "뜨거", "뜨겁", "열나", "열이나", "온도상승", "고온", "타는냄새", "탄내", "연기", "overheat",
        "overheating", "hot", "temperature", "smoke", "burning", "뜨끈", "뜨뜻", "화끈", "열받", "달아올", "열변위",
        "온도가높", "온도높", "온도가올", "온도올라", "too hot",
    ),
    "no_start": (
        "안켜", "안켜져", "기동불가", "시동불가", "전원안", "전원이안", "안돌아", "안움직", "멈춤", "멈췄", "멈춰", "정지", "서버려", "서버림",
        "섰어요", "꺼져", "꺼짐", "꺼졌", "동작안", "작동안", "작동불량", "동작불량", "먹통", "죽었", "죽어", "won't", "stopped",
        "stop", "stops", "dead", "start", "starting", "inoperative", "shutdown", "trip", "tripped",
        "시동이안", "시동안", "시동불", "기동안", "안걸려", "꿈쩍", "반응없", "반응이없", "안먹어", "안먹혀", "does nothing",
        "no response", "not start", "섰음", "섰어", "서버렸", "안돌아가",
    ),
    "stuck": (
        "걸림", "걸려", "끼임", "끼었", "끼여", "끼어", "물림", "막힘", "막혀", "걸렸", "안빠", "고착", "뻑뻑", "빡빡", "jam",
        "jammed", "stuck", "seized", "clog", "clogged", "blocked", "binding", "안빠져", "안빠지", "못움직",
        "걸려서", "막혀서", "끼여서", "막혔", "눌어붙", "들러붙", "달라붙",
    ),
    "misfeed": ("이송불량", "공급불량", "피딩", "오피드", "미스피드", "안들어가", "안넘어가", "misfeed", "feed", "feeding", "feeder"),
    "pressure_low": (
        "압력저하", "압력이안", "압력부족", "압이안", "압이떨어", "압력떨어", "압력이떨어", "압빠", "힘이없", "힘이약", "힘이딸", "압력강하",
        "low pressure", "pressure drop", "pressure loss", "weak", "약해", "약함", "약한", "힘이", "세기가",
        "가압력부족", "압력이안올라", "압이안올라", "압력안올라",
    ),
    "pressure": ("압력", "게이지", "pressure", "psi", "bar"),
    "dimension": (
        "치수", "치수불량", "공차", "규격", "사이즈", "크기", "두께", "길이", "편차", "틀어", "틀려", "안맞", "안맞아", "벗어",
        "dimension", "dimensional", "tolerance", "size", "out of spec", "deviation", "oversize",
        "undersize", "들쭉날쭉", "제각각", "커져", "작아져", "가늘", "굵어", "테이퍼", "불균일", "변해", "치수변", "taper",
        "inconsistent", "짧아", "길어져",
    ),
    "surface_defect": (
        "표면", "흠집", "스크래치", "긁힘", "찍힘", "자국", "얼룩", "거칠", "조도", "면조도", "광택", "무늬", "줄무늬", "surface",
        "scratch", "scratches", "mark", "marks", "rough", "roughness", "finish", "물결", "빗살", "귤껍질",
        "오렌지필", "거칠어", "orange peel", "wavy", "streak", "streaks", "들뜸", "박리", "벗겨", "peeling",
        "blister", "변색", "그을", "탄자국", "discolor", "discoloration", "burn mark",
    ),
    "burr": ("버르", "버발생", "버생김", "버가생", "바리", "거스러미", "burr", "burrs", "deburr"),
    "crack": (
        "크랙", "균열", "깨짐", "깨졌", "갈라", "금이", "파손", "부러", "부러짐", "부러졌", "crack", "cracked", "fracture",
        "broken", "break", "breakage", "나갔", "나감", "깨져", "부러져", "금갔", "쪼개", "찢어", "찢김", "터짐", "터졌",
        "터져", "파열", "burst", "torn", "tear", "깨진", "금간",
    ),
    "wear": ("마모", "닳", "닳았", "마멸", "무뎌", "무딘", "헐거", "wear", "worn", "dull"),
    "loose": (
        "풀림", "풀려", "헐겁", "헐거", "유격", "덜렁", "느슨", "백래시", "백래쉬", "loose", "looseness", "play",
        "backlash", "slack", "헐렁", "간극", "틈새", "gap", "clearance", "늘어나", "늘어났", "처짐", "처져",
        "stretched", "sag", "sagging", "풀렸", "풀어져", "풀어짐",
    ),
    "misalign": (
        "정렬", "틀어짐", "틀어졌", "편심", "센터링", "어긋", "비뚤", "삐뚤", "기울", "평행", "직각", "misalignment",
        "misaligned", "alignment", "offset", "eccentric", "runout", "엉뚱", "위치가", "위치틀", "벗어나", "쏠려",
        "치우쳐", "한쪽으로", "사행", "drift", "tracking", "shifted", "position", "쏠림",
    ),
    "alarm": (
        "알람", "경보", "에러", "오류", "이상신호", "경고등", "빨간불", "alarm", "error", "fault", "warning", "알람떠",
        "알람이떠", "에러떠", "에러가떠", "경고떠",
    ),
    "comm_error": (
        "통신", "통신에러", "통신불량", "연결끊", "끊김", "끊겨", "네트워크", "이더넷", "communication", "comm", "network",
        "ethernet", "timeout", "disconnect", "disconnected",
    ),
    "electrical": (
        "전기", "전원", "전압", "누전", "합선", "쇼트", "단선", "퓨즈", "차단기", "브레이커", "배선", "케이블", "접촉불량", "스파크", "감전",
        "electrical", "power", "voltage", "short", "fuse", "breaker", "wiring", "cable", "spark",
        "차단기가", "내려가", "트립", "퓨즈나", "정전", "순간정전", "결상", "phase", "tripping", "찌릿", "전기가통", "전기오",
        "불이안들어", "램프", "표시등", "lamp", "indicator",
    ),
    "slow": (
        "느려", "느림", "늦어", "지연", "사이클타임", "택트", "오래걸", "slow", "delay", "delayed", "cycle time", "천천히",
        "느릿", "굼떠", "늦게", "안올라가", "회전수", "rpm", "speed", "sluggish",
    ),
    "contamination": (
        "이물", "이물질", "칩", "찌꺼기", "슬러지", "먼지", "분진", "오염", "녹슬", "녹이", "스케일", "chip", "chips", "debris",
        "sludge", "dust", "dirt", "contamination", "contaminated", "rust", "scale", "알갱이", "뭐가묻", "오물",
        "가루", "분말", "powder",
    ),
    "hydraulic": ("유압", "유압실린더", "유압펌프", "유압유닛", "파워팩", "hydraulic", "hydraulics"),
    "cylinder": ("실린더", "피스톤", "로드", "cylinder", "piston", "rod"),
    "seal": (
        "씰", "실링", "패킹", "오링", "o링", "가스켓", "개스킷", "seal", "seals", "packing", "o-ring", "oring",
        "gasket",
    ),
    "hose": ("호스", "배관", "파이프", "피팅", "니플", "커플링", "hose", "pipe", "piping", "fitting"),
    "pump": ("펌프", "pump"),
    "valve": ("밸브", "솔레노이드", "솔밸브", "전자밸브", "valve", "solenoid"),
    "filter": ("필터", "스트레이너", "여과기", "filter", "strainer"),
    "spindle": ("스핀들", "주축", "spindle"),
    "bearing": ("베어링", "bearing", "bearings"),
    "motor": ("모터", "전동기", "motor"),
    "servo": ("서보", "서보모터", "서보앰프", "드라이브", "인버터", "servo", "drive", "amplifier", "inverter", "vfd"),
    "encoder": ("엔코더", "인코더", "encoder"),
    "sensor": (
        "센서", "근접센서", "광센서", "리밋", "리미트", "리밋스위치", "감지", "sensor", "proximity", "photoelectric",
        "limit switch", "detect",
    ),
    "belt": ("벨트", "타이밍벨트", "체인", "풀리", "스프로킷", "belt", "chain", "pulley", "sprocket"),
    "gear": ("기어", "감속기", "gear", "gearbox", "reducer"),
    "ball_screw": (
        "볼스크류", "볼스크루", "리드스크류", "lm가이드", "가이드", "습동면", "ball screw", "ballscrew", "guide", "slideway",
    ),
    "tool": (
        "공구", "툴", "인서트", "팁", "엔드밀", "드릴", "바이트", "탭", "tool", "insert", "endmill", "drill", "tap",
        "cutter", "칼날", "커터", "공구날", "안잘려", "안잘림", "절단불량",
    ),
    "tool_break": ("공구파손", "툴파손", "부러짐", "날이나", "치핑", "이빨", "chipping", "tool breakage", "broken tool"),
    "chuck": (
        "척", "콜렛", "클램프", "클램핑", "바이스", "지그", "고정", "물려", "물리", "chuck", "collet", "jaw", "clamp",
        "clamping", "vise", "jig", "fixture",
    ),
    "die": ("금형", "다이", "펀치", "몰드", "코어", "캐비티", "die", "punch", "mold", "mould", "cavity"),
    "conveyor": ("컨베이어", "컨베어", "롤러", "conveyor", "roller"),
    "robot": ("로봇", "그리퍼", "흡착", "진공패드", "robot", "gripper", "suction", "vacuum"),
    "heater": ("히터", "가열", "밴드히터", "열선", "heater", "heating", "온도가안올라", "안데워", "안뜨거", "히터안", "가열안", "예열"),
    "thermocouple": ("열전대", "온도센서", "thermocouple", "rtd"),
    "lubrication": (
        "윤활", "급유", "주유", "그리스업", "구리스업", "자동급유", "lubrication", "lubricate", "lube", "greasing",
        "기름이안가", "기름안가", "윤활부족", "말라", "dry",
    ),
    "cooling": ("냉각", "쿨러", "칠러", "팬", "냉각팬", "방열", "cooling", "cooler", "chiller", "fan", "radiator"),
    "plc": ("plc", "프로그램", "래더", "시퀀스", "ladder", "program", "sequence"),
    "door": ("도어", "문열림", "문닫", "인터록", "인터락", "안전커버", "door", "interlock", "guard", "cover"),
    "emergency": ("비상정지", "비상", "이머전시", "emergency", "e-stop", "estop"),
    "nozzle": ("노즐", "토치", "nozzle", "torch"),
    "welding": ("용접", "비드", "스패터", "기공", "언더컷", "weld", "welding", "bead", "spatter", "porosity", "undercut"),
    "short_shot": ("미성형", "쇼트", "덜채워", "덜차", "short shot", "incomplete fill"),
    "flash": ("플래시", "살이넘", "넘쳐", "flash", "flashing"),
    "sink_mark": ("싱크마크", "수축", "함몰", "sink", "shrinkage"),
    "press": ("프레스", "press", "stamping", "stroke", "슬라이드"),
    "injection": ("사출", "사출기", "injection", "molding", "moulding"),
    "cnc": (
        "cnc", "머시닝", "선반", "밀링", "가공", "machining", "lathe", "milling", "turning", "깎으", "깎을", "깎는",
        "깎아",
    ),
    "changeover": ("셋업", "세팅", "교체작업", "품종교체", "금형교체", "준비교체", "setup", "changeover", "die change"),
    "replace": (
        "교체", "교환", "바꿈", "바꿔", "갈았", "갈아", "신품", "replace", "replaced", "replacement", "change",
        "changed", "swap", "swapped", "new",
    ),
    "adjust": (
        "조정", "조절", "맞춤", "맞췄", "세팅", "보정", "튜닝", "adjust", "adjusted", "adjustment", "tune",
        "calibrate", "calibration", "set",
    ),
    "clean": (
        "청소", "세척", "제거", "닦", "불어", "털어", "clean", "cleaned", "cleaning", "flush", "remove", "removed",
    ),
    "tighten": ("조임", "조여", "조였", "체결", "토크", "tighten", "tightened", "torque", "retighten"),
    "reset": ("리셋", "재부팅", "재시작", "껐다", "reset", "reboot", "restart", "restarted"),
    "refill": ("보충", "채움", "채웠", "주입", "refill", "refilled", "top up", "topped"),
    "compressor": ("컴프레서", "콤프레샤", "콤프레서", "컴프레샤", "컴프", "압축기", "compressor"),
    "grinder": ("연삭", "연마", "숫돌", "그라인더", "grinding", "grinder", "wheel", "연마기"),
    "painting": ("도장", "페인트", "도료", "도막", "스프레이", "paint", "painting", "coating", "spray"),
    "collision": ("충돌", "부딪", "박았", "박아", "들이받", "crash", "collision", "collided", "hit"),
    "arc": ("아크", "불꽃", "arc"),
    "slip": ("미끄러", "미끌", "밀려", "밀림", "헛돌", "겉돌", "슬립", "slip", "slipping", "slips", "slid"),
    "grip_loss": (
        "놓쳐", "놓침", "떨어뜨", "못잡", "못집", "안잡", "안집", "흡착불량", "drop", "drops", "dropped", "dropping",
        "grip", "gripping",
    ),
    "flow_low": ("찔끔", "졸졸", "안나와", "안나옴", "적게나", "토출불량", "유량부족", "유량", "low flow", "no flow", "flow"),
    "intermittent": ("가다서다", "섰다", "자주멈", "간헐", "가끔", "반복", "intermittent", "randomly", "repeatedly"),
    "count": ("카운트", "숫자가", "계수", "count", "counting", "counter"),
    "wire": ("와이어", "wire"),
    "smell": ("냄새", "악취", "썩은", "smell", "smells", "odor", "odour"),
    "foam": ("거품", "foam", "foaming", "foams", "기포", "bubble", "bubbles"),
    "hole": ("구멍", "뚫려", "뚫림", "hole", "holes"),
    "magnet": ("자석", "마그넷", "마그네틱", "magnet", "magnetic"),
    "temperature": ("온도", "temperature", "temp"),
    "deform": (
        "변형", "휘어", "휨", "휘었", "찌그러", "뒤틀", "bent", "bend", "deformed", "deformation", "warp", "warped",
    ),
    "hmi": ("화면", "터치", "모니터", "패널", "hmi", "screen", "display", "panel", "touch"),
    "button": ("버튼", "스위치", "switch", "button", "pushbutton"),
    "brake": ("브레이크", "제동", "안멈", "오버런", "관성", "brake", "braking", "overrun", "coast"),
    "corrosion": ("부식", "녹슬", "삭음", "corrosion", "corroded", "rusty"),
    "fastener": ("나사산", "나사", "볼트", "너트", "thread", "bolt", "bolts", "nut", "screw"),
    "laser": ("레이저", "laser"),
    "bending": ("절곡", "벤딩", "밴딩", "벤더", "press brake", "bending", "bender"),
    "cutting_machine": (
        "전단기", "절단기", "시어", "shear", "shearing", "cutting machine", "saw", "톱날", "톱기계", "밴드쏘",
    ),
    "furnace": ("열처리로", "가열로", "오븐", "건조로", "소둔로", "furnace", "oven", "kiln"),
    "boiler": ("보일러", "스팀", "증기", "boiler", "steam"),
    "crane": ("크레인", "호이스트", "천장크레인", "crane", "hoist"),
    "forklift": ("지게차", "forklift"),
    "packaging": ("포장기", "포장", "라벨", "래핑", "packaging", "packing machine", "labeler", "wrapper"),
    "mixer": ("믹서", "교반기", "혼합기", "mixer", "agitator"),
    "blower": ("송풍기", "블로워", "블로어", "집진기", "blower", "dust collector"),
}

#: More general shop-floor forms (issue 21, second pass): sound and defect words as a log writes
#: them (마찰음, 이상음, 주름, 타원, 파단) and as an operator says them (끼이익, 쭈글쭈글, 뻗었어요,
#: 미지근, 시커먼). Written from general maintenance vocabulary and the misses of the dev halves of
#: both evaluation sets; merged into CONCEPTS (a form may name two concepts).
MORE_FORMS: dict[str, tuple[str, ...]] = {
    "noise": (
        "이상음", "마찰음", "금속음", "타격음", "충격음", "고음", "저음", "비명", "끼이익", "끼긱", "끽", "삐익", "찌익", "갈갈", "덜그럭", "덜거덕", "틱틱", "따닥", "팍팍", "퍽", "퍽퍽", "땅땅",
        "noise", "noises", "squealing", "screech", "screeching", "clatter", "clattering", "howl", "groan",
    ),
    "vibration": ("흔들림", "흔들려", "출렁", "떨어대", "덜컥거", "jitter", "shudder", "shuddering", "judder"),
    "no_start": (
        "서요", "서네", "서버", "섭니다", "뻗", "뻗어", "뻗었", "꺼져버", "안돌", "안움직여", "미동작",
        "미기동", "not move", "does not move", "doesn't move", "won't move", "not running", "quit", "quits",
        "died", "dies",
    ),
    "stuck": (
        "꽉차", "꽉막", "뭉침", "덩어리", "달라붙어", "딱붙", "붙어서안", "안떨어", "안빠져요",
        "stick", "sticks", "sticking", "clump", "clumping", "caked",
    ),
    "intermittent": ("툭하면", "이유없이", "수시로", "랜덤", "불규칙", "sporadic", "now and then"),
    "overheat": ("탄냄새", "타는냄새", "뜨거워", "scorching", "smells burnt", "burnt"),
    "crack": ("파단", "끊어져", "끊어짐", "끊어졌", "끊겨", "툭끊", "찢어짐", "파손", "rupture", "ruptured", "snapped", "snap"),
    "surface_defect": (
        "울퉁불퉁", "오돌토돌", "우둘투둘", "까끌", "꺼끌", "은줄", "실버", "흰줄", "하얀줄", "bumpy", "textured", "blemish",
    ),
    "misalign": ("비껴", "빗나", "비켜", "틀어져", "삐딱", "비스듬", "기울어", "askew", "skewed", "crooked"),
    "dimension": ("진원도", "타원", "동그랗", "둥글", "원형", "roundness", "oval", "out of round", "왔다갔다", "오락가락"),
    "contamination": ("slug", "slugs", "scrap", "스크랩", "부스러기", "쓰레기", "떡져"),
    "compressor": ("콤프",),
    "leak": ("drips", "leaked", "흘러내", "새버", "새어요", "줄줄새"),
}

#: concepts added in the second pass (issue 21): technical and colloquial forms of each
NEW_CONCEPTS: dict[str, tuple[str, ...]] = {
    "wrinkle": ("주름", "쭈글", "쭈굴", "구김", "구겨", "우글", "wrinkle", "wrinkles", "wrinkling", "crease"),
    "fume": (
        "흄", "연기", "매연", "자욱", "미스트", "시커먼", "시꺼먼", "검은연기", "까만연기", "그을음",
        "굴뚝", "연돌", "fume", "fumes", "smoke", "smoky", "mist", "haze", "hazy", "soot", "black smoke", "chimney", "stack",
    ),
    "level_low": (
        "저수위", "수위", "유면", "레벨", "모자라", "모자르", "물이없", "물부족", "기름부족", "오일부족", "바닥났",
        "low level", "level", "running dry", "ran dry",
    ),
    "cooling_poor": (
        "미지근", "안차가", "안시원", "냉각불량", "냉각능력", "냉각부족", "냉각이안", "찬물이안", "냉동능력", "온도미달",
        "not cold", "not cooling", "lukewarm", "warm",
    ),
    "algae": ("녹조", "조류", "이끼", "물때", "슬라임", "초록", "파랗게변", "algae", "slime", "green water"),
    "burn": (
        "버닝", "타요", "탔어", "타서", "타버", "그을", "변색", "파랗게", "시퍼렇", "누렇게", "burning", "burn", "burned",
        "scorch", "scorched", "discolor", "discolored", "discoloration", "blued", "bluing",
    ),
    "bond_fail": (
        "접착불량", "접착", "안붙", "잘안붙", "벌어져", "밀봉불량", "봉합", "실링불량", "adhesion",
        "not sealing", "seal failure", "peel off", "come apart", "comes apart",
    ),
    "film": ("필름", "비닐", "랩핑", "스트레치", "film", "stretch film", "wrap", "wrapping"),
    "fluid_degraded": (
        "유화", "탁해", "탁함", "변질", "열화", "부패", "milky", "cloudy",
        "degraded", "rancid", "spoiled",
    ),
    "spray": ("분무", "분사", "뿌리", "뿌려", "스프레이건", "spray pattern", "atomizing", "atomize"),
    "drop": ("떨어뜨", "떨어트", "놓쳐", "낙하", "dropped", "falls off", "fell"),
    "weight": ("중량", "무게", "계량", "저울", "로드셀", "weight", "weigher", "scale reading", "load cell"),
    "label": ("라벨", "label", "labels", "sticker"),
    "battery": ("배터리", "밧데리", "충전", "방전", "battery", "charge", "charging", "discharged", "flat battery"),
}

#: concept -> concepts it is usually written up with (searched with a lower weight)
RELATED: dict[str, tuple[str, ...]] = {
    "leak": ("seal", "hose", "oil", "hydraulic", "water", "air"),
    "oil": ("leak", "hydraulic", "lubrication"),
    "pressure_low": ("leak", "pump", "valve", "filter", "hydraulic", "air", "seal"),
    "noise": ("bearing", "vibration", "gear", "belt", "lubrication"),
    "vibration": ("bearing", "noise", "loose", "misalign", "spindle", "tool"),
    "overheat": ("cooling", "motor", "lubrication", "heater", "bearing"),
    "no_start": ("electrical", "emergency", "door", "sensor", "alarm", "servo"),
    "stuck": ("contamination", "misfeed", "lubrication"),
    "misfeed": ("stuck", "sensor", "conveyor"),
    "dimension": ("wear", "tool", "misalign", "loose", "adjust"),
    "surface_defect": ("tool", "wear", "vibration", "contamination"),
    "burr": ("tool", "wear", "die"),
    "crack": ("die", "tool", "tool_break"),
    "comm_error": ("plc", "electrical", "sensor"),
    "electrical": ("no_start", "motor"),
    "short_shot": ("injection", "heater", "pressure_low", "nozzle"),
    "flash": ("injection", "die", "pressure"),
    "tool_break": ("tool", "crack", "vibration"),
    "alarm": ("sensor", "servo", "electrical"),
    "slow": ("hydraulic", "pressure_low", "servo"),
    "grip_loss": ("robot", "pressure_low", "chuck", "slip"),
    "slip": ("belt", "chuck", "pressure_low", "wear"),
    "flow_low": ("filter", "pump", "clean", "contamination"),
    "collision": ("robot", "misalign"),
    "intermittent": ("electrical", "sensor", "overheat"),
    "deform": ("collision", "crack", "misalign"),
    "hmi": ("plc", "electrical", "comm_error"),
    "brake": ("wear", "adjust", "no_start"),
    "corrosion": ("water", "contamination"),
    "fastener": ("loose", "tighten"),
}
# fmt: on

for _concept, _forms in MORE_FORMS.items():
    CONCEPTS[_concept] = CONCEPTS[_concept] + tuple(f for f in _forms if f not in CONCEPTS[_concept])
for _concept, _forms in NEW_CONCEPTS.items():
    CONCEPTS.setdefault(_concept, _forms)
