"""render/templates/settings.env.j2, compiled by python -m dbstack.render.compiled: generated, do not edit."""
# mypy: ignore-errors
# ruff: noqa
SOURCE_SHA256 = '51dbe25dd58469e8a610db12a42780e0bd6fb4140f5bc29f65fc462d47bf2efd'
JINJA_VERSION = '3.1.6'
from jinja2.runtime import LoopContext, Macro, Markup, Namespace, TemplateNotFound, TemplateReference, TemplateRuntimeError, Undefined, escape, identity, internalcode, markup_join, missing, str_join
name = None

def root(context, missing=missing):
    resolve = context.resolve_or_missing
    undefined = environment.undefined
    concat = environment.concat
    cond_expr_undefined = Undefined
    if 0: yield None
    l_0_header = resolve('header')
    l_0_lines = resolve('lines')
    pass
    yield str(environment.finalize((undefined(name='header') if l_0_header is missing else l_0_header)))
    for l_1_line in (undefined(name='lines') if l_0_lines is missing else l_0_lines):
        _loop_vars = {}
        pass
        yield '\n'
        yield str(environment.finalize(l_1_line))
    l_1_line = missing

blocks = {}
debug_info = '3=13&4=14&5=18'
