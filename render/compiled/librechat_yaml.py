"""render/templates/librechat.yaml.j2, compiled by python -m dbstack.render.compiled: generated, do not edit."""
# mypy: ignore-errors
# ruff: noqa
SOURCE_SHA256 = '9eab0e36533dd8b81fd97f9dd3a24a7ec989aec7c010a32446d08589d75acb04'
JINJA_VERSION = '3.1.6'
from jinja2.runtime import LoopContext, Macro, Markup, Namespace, TemplateNotFound, TemplateReference, TemplateRuntimeError, Undefined, escape, identity, internalcode, markup_join, missing, str_join
name = None

def root(context, missing=missing):
    resolve = context.resolve_or_missing
    undefined = environment.undefined
    concat = environment.concat
    cond_expr_undefined = Undefined
    if 0: yield None
    l_0_apply = resolve('apply')
    l_0_version = resolve('version')
    l_0_custom = resolve('custom')
    try:
        t_1 = environment.filters['tojson']
    except KeyError:
        @internalcode
        def t_1(*unused):
            raise TemplateRuntimeError("No filter named 'tojson' found.")
    pass
    yield "# LibreChat's config file (librechat.yaml), written by dbstack: a regeneration rewrites it (backup kept) only\n# while it holds exactly this; once you change it, it is yours and dbstack never rewrites it.\n# The api reads it read-only at CONFIG_PATH; to apply a change run (in this folder): "
    yield str(environment.finalize((undefined(name='apply') if l_0_apply is missing else l_0_apply)))
    yield '\n# Reference: https://www.librechat.ai/docs/configuration/librechat_yaml\nversion: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='version') if l_0_version is missing else l_0_version))))
    yield '\ncache: true'
    if (undefined(name='custom') if l_0_custom is missing else l_0_custom):
        pass
        yield '\nendpoints:\n  custom:'
        for l_1_entry in (undefined(name='custom') if l_0_custom is missing else l_0_custom):
            _loop_vars = {}
            pass
            yield '\n    - '
            yield str(environment.finalize(t_1(context.eval_ctx, l_1_entry)))
        l_1_entry = missing

blocks = {}
debug_info = '6=21&8=23&10=25&13=28&14=32'
