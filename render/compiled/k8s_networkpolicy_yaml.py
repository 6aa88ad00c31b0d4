"""render/templates/k8s/networkpolicy.yaml.j2, compiled by python -m dbstack.render.compiled: generated, do not edit."""
# mypy: ignore-errors
# ruff: noqa
SOURCE_SHA256 = '24ddc77bd84a4b78a2fb5e15f9d4c178f0bec24b098bb2bb9a8b9fb9e47ad82c'
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
    l_0_selector = resolve('selector')
    l_0_client_labels = resolve('client_labels')
    l_0_ports = resolve('ports')
    try:
        t_1 = environment.filters['tojson']
    except KeyError:
        @internalcode
        def t_1(*unused):
            raise TemplateRuntimeError("No filter named 'tojson' found.")
    try:
        t_2 = environment.tests['none']
    except KeyError:
        @internalcode
        def t_2(*unused):
            raise TemplateRuntimeError("No test named 'none' found.")
    pass
    yield 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='name') if l_0_name is missing else l_0_name))))
    yield '\n  labels: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='labels') if l_0_labels is missing else l_0_labels))))
    yield '\nspec:\n  podSelector:\n    matchLabels: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='selector') if l_0_selector is missing else l_0_selector))))
    yield '\n  policyTypes: ["Ingress"]\n  ingress:'
    if (not t_2((undefined(name='client_labels') if l_0_client_labels is missing else l_0_client_labels))):
        pass
        yield '\n    - from:\n        - podSelector:\n            matchLabels: '
        yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='client_labels') if l_0_client_labels is missing else l_0_client_labels))))
        yield '\n      ports:'
    else:
        pass
        yield '\n    - ports:'
    for l_1_port in (undefined(name='ports') if l_0_ports is missing else l_0_ports):
        _loop_vars = {}
        pass
        yield '\n        - '
        yield str(environment.finalize(t_1(context.eval_ctx, {'port': environment.getattr(l_1_port, 'container'), 'protocol': environment.getattr(l_1_port, 'protocol')})))
    l_1_port = missing

blocks = {}
debug_info = '7=29&8=31&11=33&14=35&17=38&22=43&23=47'
