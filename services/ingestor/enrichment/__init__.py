"""Enrichment through the WeCom REST API: who the contact is (WeChat user or another
organisation's WeCom user, which corp) and how this employee got them (add_way, state,
oper_userid). Published as `contact_profile` records, never by delaying a callback."""
