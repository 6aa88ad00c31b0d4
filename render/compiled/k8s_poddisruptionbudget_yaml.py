"""render/templates/k8s/poddisruptionbudget.yaml.j2, compiled by python -m dbstack.render.compiled: generated, do not edit."""
# mypy: ignore-errors
# ruff: noqa
SOURCE_SHA256 = 'a1fb7e7f523ca30158fafc9814da06ea05a71aea98ee748a3990960803913e50'
JINJA_VERSION = '3.1.6'
from jinja2.runtime import LoopContext, Macro, Markup, Namespace, TemplateNotFound, TemplateReference, TemplateRuntimeError, Undefined, escape, identity, internalcode, markup_join, missing, str_join
name = None

def root(context, missing=missing):
    resolve = context.resolve_or_missing
    undefined = environment.undefined
    concat = environment.concat
    cond_expr_undefined = Undefined
    if 0: yield None
    l_0_name = resolve('name')
    l_0_labels = resolve('labels')
    l_0_min_available = resolve('min_available')
    l_0_selector = resolve('selector')
    try:
        t_1 = environment.filters['tojson']
    except KeyError:
        @internalcode
        def t_1(*unused):
            raise TemplateRuntimeError("No filter named 'tojson' found.")
    pass
    yield 'apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='name') if l_0_name is missing else l_0_name))))
    yield '\n  labels: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='labels') if l_0_labels is missing else l_0_labels))))
    yield '\nspec:\n  minAvailable: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='min_available') if l_0_min_available is missing else l_0_min_available))))
    yield '\n  selector:\n    matchLabels: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='selector') if l_0_selector is missing else l_0_selector))))

blocks = {}
debug_info = '5=22&6=24&8=26&10=28'
