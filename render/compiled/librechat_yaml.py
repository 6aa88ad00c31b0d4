"""render/templates/librechat.yaml.j2, compiled by python -m dbstack.render.compiled: generated, do not edit."""
# mypy: ignore-errors
# ruff: noqa
SOURCE_SHA256 = '76acdce33ec7f9423c64bfa54639957ed844e7d2bfdedd87d7f183c52c7849d8'
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
    yield "# LibreChat's config file (librechat.yaml), written once by dbstack: it is yours now, dbstack never rewrites it.\n# The api reads it read-only at CONFIG_PATH; to apply a change run (in this folder): "
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
debug_info = '5=21&7=23&9=25&12=28&13=32'
