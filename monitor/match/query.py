"""The query language: text -> AST (``parse_query``) and AST -> text (``format_query``).

Grammar (operators upper case; precedence NOT > NEAR > AND > OR)::

    query   := or END
    or      := and ("OR" and)*
    and     := unary (("AND" unary) | ("NOT" near))*     "a NOT b" is "a AND NOT b"
    unary   := "NOT" unary | near
    near    := primary (["NOT"] "NEAR/" n primary)*     left-associative, 1 <= n <= 1000
    primary := "(" or ")" | FIELD ":" primary | word | word* | "phrase" | "phrase*" | $list

``A NOT NEAR/n B`` keeps the occurrences of A that have no B within n words: it drops the
"pirates" of "Pittsburgh Pirates" and keeps the other ones of the same story.
``parse_query(format_query(ast)) == ast`` for every AST (a property test checks it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from monitor.errors import RuleError

FIELDS = ("title", "body", "source", "lang", "url")
KEYWORDS = ("AND", "OR", "NOT")
MAX_DEPTH = 40  # nesting limit: parentheses, NOT, field scopes and NEAR chains
MAX_NEAR = 1000
_LIST_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
_NEAR = re.compile(r"NEAR/(\d{1,4})")
_SPECIAL = set('()"') | {" ", "\t", "\n", "\r"}


# --- the AST: frozen, compared without source positions -------------------------------------
@dataclass(frozen=True, slots=True)
class _Located:
    """Where a node starts in the rule's text, for error messages; keyword-only, so that each
    node's own fields come first."""

    pos: int = field(default=-1, compare=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Term(_Located):
    """A word or phrase (several words, matched in sequence); ``prefix``: its last word is a stem."""

    text: str
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class ListRef(_Located):
    """``$name``: any term of the named list."""

    name: str


@dataclass(frozen=True, slots=True)
class Field(_Located):
    """``title:x``: ``child`` matched in one field only."""

    name: str
    child: Node


@dataclass(frozen=True, slots=True)
class Not(_Located):
    child: Node


@dataclass(frozen=True, slots=True)
class _Group(_Located):
    children: tuple[Node, ...]


class And(_Group):
    __slots__ = ()


class Or(_Group):
    __slots__ = ()


@dataclass(frozen=True, slots=True)
class _Pair(_Located):
    left: Node
    right: Node
    distance: int


class Near(_Pair):
    """``left NEAR/distance right``: both within ``distance`` words of each other, either order."""

    __slots__ = ()


class NotNear(_Pair):
    """``left NOT NEAR/distance right``: occurrences of ``left`` with no ``right`` that close."""

    __slots__ = ()


Node = Term | ListRef | Field | Not | And | Or | Near | NotNear


# --- lexer ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # "(", ")", "AND", "OR", "NOT", "NEAR", "FIELD", "WORD", "PHRASE", "LIST", "END"
    value: str
    pos: int
    prefix: bool = False
    n: int = 0


def _describe(tok: _Tok) -> str:
    if tok.kind == "END":
        return "the end of the query"
    if tok.kind == "PHRASE":
        return f'"{tok.value}"'
    if tok.kind == "LIST":
        return f"${tok.value}"
    if tok.kind == "FIELD":
        return f"{tok.value}:"
    if tok.kind == "NEAR":
        return f"NEAR/{tok.n}"
    return f"'{tok.value}'" if tok.kind == "WORD" else tok.kind


def _lex(text: str, rule: str) -> list[_Tok]:
    def fail(msg: str, pos: int) -> RuleError:
        return RuleError(_where(rule, pos) + msg, rule=rule, position=pos)

    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "()":
            toks.append(_Tok(c, c, i))
            i += 1
        elif c == '"':
            j = text.find('"', i + 1)
            if j < 0:
                raise fail("unterminated phrase: expected a closing '\"'", i)
            body, prefix = text[i + 1:j], False
            if body.endswith("*"):
                body, prefix = body[:-1], True
            if "*" in body:
                raise fail("'*' may only end a word or phrase", i + 1 + body.index("*"))
            if not body.strip():
                raise fail("empty phrase: expected words between the quotes", i)
            toks.append(_Tok("PHRASE", body, i, prefix))
            i = j + 1
        else:
            j = i
            while j < n and not (text[j] in _SPECIAL or text[j].isspace()):
                j += 1
            word = text[i:j]
            while not word.startswith("$") and ":" in word:  # field scopes: title:body:x
                name, _, word = word.partition(":")
                if name not in FIELDS:
                    raise fail(f"unknown field '{name}': expected one of "
                               f"{', '.join(FIELDS)} before ':' (quote words containing ':')", i)
                toks.append(_Tok("FIELD", name, i))
                i += len(name) + 1
            if not word:
                pass  # "title:" followed by a space, '(' or a phrase
            elif word.startswith("$"):
                if not _LIST_NAME.fullmatch(word[1:]):
                    raise fail("expected a list name after '$' (letters, digits, '_' or '-')", i)
                toks.append(_Tok("LIST", word[1:], i))
            elif word in KEYWORDS:
                toks.append(_Tok(word, word, i))
            elif word == "NEAR" or word.startswith("NEAR/"):
                m = _NEAR.fullmatch(word)
                if not m or not 1 <= int(m.group(1)) <= MAX_NEAR:
                    raise fail(f"expected NEAR/n with n from 1 to {MAX_NEAR}", i)
                toks.append(_Tok("NEAR", word, i, n=int(m.group(1))))
            else:
                prefix = word.endswith("*")
                stem = word[:-1] if prefix else word
                if "*" in stem or not stem:
                    raise fail("'*' may only end a word or phrase", i + max(stem.find("*"), 0))
                toks.append(_Tok("WORD", stem, i, prefix))
            i = j
    toks.append(_Tok("END", "", n))
    return toks


def _where(rule: str, pos: int) -> str:
    return (f'rule "{rule}", ' if rule else "") + f"position {pos}: "


# --- parser ---------------------------------------------------------------------------------
class _Parser:
    def __init__(self, text: str, rule: str) -> None:
        self.rule = rule
        self.toks = _lex(text, rule)
        self.i = 0
        self.depth = 0

    def fail(self, expected: str, tok: _Tok | None = None) -> RuleError:
        tok = tok or self.toks[self.i]
        hint = ""
        if tok.kind == "WORD" and tok.value.upper() in KEYWORDS + ("NEAR",):
            hint = " (operators are upper case: AND, OR, NOT, NEAR/n)"
        elif tok.kind in ("WORD", "PHRASE", "LIST", "FIELD", "("):
            hint = ' (join terms with AND, OR or NEAR/n; quote a phrase: "pirate iptv")'
        return RuleError(_where(self.rule, tok.pos) + f"expected {expected}, found {_describe(tok)}"
                         + hint, rule=self.rule, position=tok.pos)

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def nest(self, tok: _Tok) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise RuleError(_where(self.rule, tok.pos) + f"nesting deeper than {MAX_DEPTH} levels",
                            rule=self.rule, position=tok.pos)

    def parse(self) -> Node:
        node = self.or_()
        if self.peek().kind != "END":
            raise self.fail("AND, OR, NOT, NEAR/n or the end of the query")
        return node

    def or_(self) -> Node:
        first = self.peek()
        children = [self.and_()]
        while self.peek().kind == "OR":
            self.take()
            children.append(self.and_())
        return children[0] if len(children) == 1 else Or(tuple(children), pos=first.pos)

    def and_(self) -> Node:
        first = self.peek()
        children = [self.unary()]
        while self.peek().kind in ("AND", "NOT"):
            if self.take().kind == "AND":
                children.append(self.unary())
            else:  # "a NOT b": shorthand for "a AND NOT b"
                not_tok = self.toks[self.i - 1]
                self.nest(not_tok)
                children.append(Not(self.near(), pos=not_tok.pos))
                self.depth -= 1
        return children[0] if len(children) == 1 else And(tuple(children), pos=first.pos)

    def unary(self) -> Node:
        tok = self.peek()
        if tok.kind != "NOT":
            return self.near()
        self.take()
        self.nest(tok)
        node = Not(self.unary(), pos=tok.pos)
        self.depth -= 1
        return node

    def near(self) -> Node:
        first = self.peek()
        node = self.primary()
        chain = 0
        while True:
            negated = self.peek().kind == "NOT" and self.toks[self.i + 1].kind == "NEAR"
            if not (negated or self.peek().kind == "NEAR"):
                break
            if negated:
                self.take()
            tok = self.take()
            chain += 1
            self.nest(tok)
            node = (NotNear if negated else Near)(node, self.primary(), tok.n, pos=first.pos)
        self.depth -= chain
        return node

    def primary(self) -> Node:
        tok = self.peek()
        if tok.kind == "(":
            self.take()
            self.nest(tok)
            node = self.or_()
            if self.peek().kind != ")":
                raise self.fail("')' to close the '(' at position %d" % tok.pos)
            self.take()
            self.depth -= 1
            return node
        if tok.kind == "FIELD":
            self.take()
            self.nest(tok)
            node = Field(tok.value, self.primary(), pos=tok.pos)
            self.depth -= 1
            return node
        if tok.kind in ("WORD", "PHRASE"):
            self.take()
            return Term(tok.value, tok.prefix, pos=tok.pos)
        if tok.kind == "LIST":
            self.take()
            return ListRef(tok.value, pos=tok.pos)
        raise self.fail('a word, a "phrase", a $list, a field: or "("')


def parse_query(text: str, *, rule: str = "") -> Node:
    """Parse a query; ``RuleError`` names the rule, the position and what was expected."""
    return _Parser(text, rule).parse()


# --- printer --------------------------------------------------------------------------------
def _bare(text: str) -> bool:
    return (bool(text) and not any(c in _SPECIAL or c.isspace() or c in ":*" for c in text)
            and not text.startswith(("$", "NEAR/")) and text not in KEYWORDS + ("NEAR",))


def _compound(node: Node) -> bool:
    return isinstance(node, (And, Or, Near, NotNear, Not))


def format_query(node: Node) -> str:
    """The canonical text of ``node``: operators upper case, groups parenthesised."""
    if isinstance(node, Term):
        if '"' in node.text or "*" in node.text:
            raise ValueError(f"a term cannot contain '\"' or '*': {node.text!r}")
        star = "*" if node.prefix else ""
        return node.text + star if _bare(node.text) else f'"{node.text}{star}"'
    if isinstance(node, ListRef):
        return "$" + node.name
    if isinstance(node, Field):
        inner = format_query(node.child)
        return f"{node.name}:" + (f"({inner})" if _compound(node.child) else inner)
    if isinstance(node, Not):
        inner = format_query(node.child)
        return "NOT " + (f"({inner})" if _compound(node.child) else inner)

    def part(child: Node, group: tuple[type, ...]) -> str:
        text = format_query(child)
        return f"({text})" if isinstance(child, group) else text

    if isinstance(node, And):
        return " AND ".join(part(c, (And, Or)) for c in node.children)
    if isinstance(node, Or):
        return " OR ".join(part(c, (And, Or, Not)) for c in node.children)
    if isinstance(node, (Near, NotNear)):
        op = "NEAR" if isinstance(node, Near) else "NOT NEAR"
        group = (And, Or, Not, Near, NotNear)
        return f"{part(node.left, group)} {op}/{node.distance} {part(node.right, group)}"
    raise TypeError(f"not a query node: {node!r}")


def depth(node: Node) -> int:
    """Nesting depth of an AST (iterative, safe on any size)."""
    best, stack = 0, [(node, 1)]
    while stack:
        n, d = stack.pop()
        best = max(best, d)
        if isinstance(n, (Field, Not)):
            stack.append((n.child, d + 1))
        elif isinstance(n, (And, Or)):
            stack.extend((c, d + 1) for c in n.children)
        elif isinstance(n, (Near, NotNear)):
            stack.extend(((n.left, d + 1), (n.right, d + 1)))
    return best
