"""Name material: employees (hanzi name + pinyin userid), companies, financial institutions.

Honest company names avoid every word a peer-institution rule could match (银行, 保险, 证券,
also 金融, 基金, 理财, 支付 ...), so a `type = 2` customer from a factory is never taken for a
peer."""

from __future__ import annotations

import random

SURNAMES: tuple[tuple[str, str], ...] = (
    ("张", "zhang"),
    ("王", "wang"),
    ("李", "li"),
    ("赵", "zhao"),
    ("刘", "liu"),
    ("陈", "chen"),
    ("杨", "yang"),
    ("黄", "huang"),
    ("周", "zhou"),
    ("吴", "wu"),
    ("徐", "xu"),
    ("孙", "sun"),
    ("马", "ma"),
    ("朱", "zhu"),
    ("胡", "hu"),
    ("郭", "guo"),
    ("何", "he"),
    ("林", "lin"),
    ("高", "gao"),
    ("罗", "luo"),
    ("郑", "zheng"),
    ("梁", "liang"),
    ("谢", "xie"),
    ("宋", "song"),
    ("唐", "tang"),
    ("许", "xu"),
    ("韩", "han"),
    ("冯", "feng"),
    ("邓", "deng"),
    ("曹", "cao"),
)
GIVEN: tuple[tuple[str, str], ...] = (
    ("伟", "wei"),
    ("芳", "fang"),
    ("娜", "na"),
    ("敏", "min"),
    ("静", "jing"),
    ("磊", "lei"),
    ("强", "qiang"),
    ("洋", "yang"),
    ("艳", "yan"),
    ("勇", "yong"),
    ("军", "jun"),
    ("杰", "jie"),
    ("娟", "juan"),
    ("涛", "tao"),
    ("明", "ming"),
    ("超", "chao"),
    ("秀英", "xiuying"),
    ("丽", "li"),
    ("婷", "ting"),
    ("晨", "chen"),
    ("浩", "hao"),
    ("欣怡", "xinyi"),
    ("子涵", "zihan"),
    ("宇", "yu"),
    ("佳", "jia"),
    ("思远", "siyuan"),
    ("雪", "xue"),
    ("鹏", "peng"),
    ("慧", "hui"),
    ("博文", "bowen"),
)
CITIES: tuple[str, ...] = (
    "杭州",
    "宁波",
    "温州",
    "绍兴",
    "湖州",
    "嘉兴",
    "金华",
    "台州",
    "苏州",
    "无锡",
    "常州",
    "南通",
    "合肥",
    "芜湖",
    "南昌",
    "福州",
    "厦门",
    "泉州",
)
_COMPANY_TRADES: tuple[str, ...] = (
    "科技",
    "贸易",
    "机械制造",
    "建筑工程",
    "餐饮管理",
    "物流",
    "医药",
    "教育咨询",
    "服装",
    "电子",
    "食品",
    "家居",
    "汽车服务",
    "印刷",
    "文化传媒",
    "农业开发",
)
_BRANDS: tuple[str, ...] = (
    "恒信",
    "鼎盛",
    "华瑞",
    "新元",
    "永安",
    "德丰",
    "中和",
    "嘉禾",
    "宏达",
    "金桥",
    "瑞丰",
    "海通",
    "天成",
    "国泰",
    "安盛",
    "长江",
)


def employee_name(rng: random.Random) -> tuple[str, str]:
    """A (hanzi name, pinyin stem) pair such as ("张伟", "zhangwei")."""
    surname, surname_py = rng.choice(SURNAMES)
    given, given_py = rng.choice(GIVEN)
    return surname + given, surname_py + given_py


def company_name(rng: random.Random) -> str:
    """An ordinary company whose staff are WeCom users (`type = 2` honest customers)."""
    return f"{rng.choice(CITIES)}{rng.choice(_BRANDS)}{rng.choice(_COMPANY_TRADES)}有限公司"


def financial_peer_name(rng: random.Random, own_bank: str) -> str:
    """A bank, credit union, broker or insurer (or the bank itself): its staff are peers."""
    city, brand = rng.choice(CITIES), rng.choice(_BRANDS)
    forms = (
        f"{city}农商银行",
        f"{city}农村商业银行",
        f"{city}{brand}村镇银行",
        f"{city}市农村信用社",
        f"{brand}证券{city}营业部",
        f"{brand}人寿保险",
        f"{brand}财产保险{city}中心支公司",
        f"{brand}银行{city}分行",
        own_bank,
    )
    return rng.choice(forms)
