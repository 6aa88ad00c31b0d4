"""render/templates/k8s/service.yaml.j2, compiled by python -m dbstack.render.compiled: generated, do not edit."""
# mypy: ignore-errors
# ruff: noqa
SOURCE_SHA256 = '2117fb72d841e423a94203544a629706c996ca235bf2ab3abf6c5065a31ad2f1'
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
    l_0_headless = resolve('headless')
    l_0_selector = resolve('selector')
    l_0_ports = resolve('ports')
    try:
        t_1 = environment.filters['tojson']
    except KeyError:
        @internalcode
        def t_1(*unused):
            raise TemplateRuntimeError("No filter named 'tojson' found.")
    pass
    yield 'apiVersion: v1\nkind: Service\nmetadata:\n  name: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='name') if l_0_name is missing else l_0_name))))
    yield '\n  labels: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='labels') if l_0_labels is missing else l_0_labels))))
    yield '\nspec:'
    if (undefined(name='headless') if l_0_headless is missing else l_0_headless):
        pass
        yield '\n  clusterIP: None\n  publishNotReadyAddresses: true'
    else:
        pass
        yield '\n  type: ClusterIP'
    yield '\n  selector: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='selector') if l_0_selector is missing else l_0_selector))))
    yield '\n  ports:'
    for l_1_port in (undefined(name='ports') if l_0_ports is missing else l_0_ports):
        _loop_vars = {}
        pass
        yield '\n    - '
        yield str(environment.finalize(t_1(context.eval_ctx, {'name': environment.getattr(l_1_port, 'name'), 'port': environment.getattr(l_1_port, 'container'), 'targetPort': environment.getattr(l_1_port, 'name'), 'protocol': environment.getattr(l_1_port, 'protocol')})))
    l_1_port = missing

blocks = {}
debug_info = '6=23&7=25&9=27&15=34&17=36&18=40'
