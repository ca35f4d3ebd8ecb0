"""trafilatura's HTML parser with lxml's element class lookup in C, instead of lxml.html's in
Python.

lxml.html's parser looks up a class for each element that Python touches (HtmlElementClassLookup,
a Python method): FormElement for <form>, InputElement for <input>, and so on, HtmlElement for
the rest. trafilatura touches a few hundred elements a page (its XPath results, its walks), and
never uses what those classes add (a form's fields, an input's value). install() gives its parser
lxml's own ElementDefaultClassLookup with lxml.html's classes: every element an HtmlElement, with
the same methods (text_content, drop_tree, ...), looked up without calling into Python. Same
output (tests/test_plain_elements.py), about 2% less CPU a page (bench/README.md, issue 8's
eighth session).
"""

from __future__ import annotations

from lxml import etree
from lxml import html as lxml_html

from extractors.switch import Switch

PLAIN = etree.ElementDefaultClassLookup(
    element=lxml_html.HtmlElement,
    comment=lxml_html.HtmlComment,
    pi=lxml_html.HtmlProcessingInstruction,
    entity=lxml_html.HtmlEntity,
)


def _parser() -> etree.HTMLParser:
    from trafilatura import utils

    return utils.HTML_PARSER


def _install() -> bool:
    _parser().set_element_class_lookup(PLAIN)
    return True


def _uninstall() -> None:
    _parser().set_element_class_lookup(lxml_html.HtmlElementClassLookup())  # lxml.html's own


def element_class(tag: str) -> type:
    """The class trafilatura's parser gives an element `tag` (to tell the two lookups apart)."""
    from trafilatura.utils import load_html

    tree = load_html(f"<html><body><{tag}>x</{tag}><p>y</p></body></html>")
    return type(tree.find(f".//{tag}"))


_switch = Switch(_install, _uninstall)
install, uninstall = _switch.install, _switch.uninstall
ensure_installed, disabled = _switch.ensure_installed, _switch.disabled
