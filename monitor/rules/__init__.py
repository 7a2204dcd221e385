"""The rule language of the matcher (issue 3), in three parts used by ``monitor.match``.

- ``text``:  Unicode folding and word tokenisation shared by documents and queries;
- ``query``: the query AST, its parser (``parse_query``) and printer (``format_query``);
- ``tree``:  compiled rule trees evaluated on the hits of one Aho-Corasick pass (``scan``).
"""
