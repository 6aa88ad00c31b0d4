"""render/templates/k8s/ingress.yaml.j2, compiled by python -m dbstack.render.compiled: generated, do not edit."""
# mypy: ignore-errors
# ruff: noqa
SOURCE_SHA256 = 'ae055b3e88e21f9b3bc08059ad40b2acfc48c7bed0038b2ce85757cad9728906'
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
    l_0_tls_secret = resolve('tls_secret')
    l_0_host = resolve('host')
    l_0_service = resolve('service')
    l_0_port = resolve('port')
    try:
        t_1 = environment.filters['tojson']
    except KeyError:
        @internalcode
        def t_1(*unused):
            raise TemplateRuntimeError("No filter named 'tojson' found.")
    pass
    yield 'apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='name') if l_0_name is missing else l_0_name))))
    yield '\n  labels: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='labels') if l_0_labels is missing else l_0_labels))))
    yield '\nspec:'
    if (undefined(name='tls_secret') if l_0_tls_secret is missing else l_0_tls_secret):
        pass
        yield '\n  tls:\n    - hosts: ['
        yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='host') if l_0_host is missing else l_0_host))))
        yield ']\n      secretName: '
        yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='tls_secret') if l_0_tls_secret is missing else l_0_tls_secret))))
    yield '\n  rules:\n    - host: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='host') if l_0_host is missing else l_0_host))))
    yield '\n      http:\n        paths:\n          - path: "/"\n            pathType: Prefix\n            backend:\n              service:\n                name: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='service') if l_0_service is missing else l_0_service))))
    yield '\n                port: {"name": '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='port') if l_0_port is missing else l_0_port))))
    yield '}'

blocks = {}
debug_info = '7=24&8=26&10=28&12=31&13=33&16=35&23=37&24=39'
