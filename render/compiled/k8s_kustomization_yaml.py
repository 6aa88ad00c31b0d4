"""render/templates/k8s/kustomization.yaml.j2, compiled by python -m dbstack.render.compiled: generated, do not edit."""
# mypy: ignore-errors
# ruff: noqa
SOURCE_SHA256 = 'db0f726993bf1db82b67e7592b52d8a8b331e1ed0f64d0e79fdb47483182f81c'
JINJA_VERSION = '3.1.6'
from jinja2.runtime import LoopContext, Macro, Markup, Namespace, TemplateNotFound, TemplateReference, TemplateRuntimeError, Undefined, escape, identity, internalcode, markup_join, missing, str_join
name = None

def root(context, missing=missing):
    resolve = context.resolve_or_missing
    undefined = environment.undefined
    concat = environment.concat
    cond_expr_undefined = Undefined
    if 0: yield None
    l_0_namespace = resolve('namespace')
    l_0_resources = resolve('resources')
    l_0_secrets = resolve('secrets')
    l_0_config_maps = resolve('config_maps')
    try:
        t_1 = environment.filters['tojson']
    except KeyError:
        @internalcode
        def t_1(*unused):
            raise TemplateRuntimeError("No filter named 'tojson' found.")
    pass
    yield 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='namespace') if l_0_namespace is missing else l_0_namespace))))
    yield '\nresources: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='resources') if l_0_resources is missing else l_0_resources))))
    if (undefined(name='secrets') if l_0_secrets is missing else l_0_secrets):
        pass
        yield '\nsecretGenerator:'
        for l_1_secret in (undefined(name='secrets') if l_0_secrets is missing else l_0_secrets):
            _loop_vars = {}
            pass
            yield '\n  - name: '
            yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr(l_1_secret, 'name'))))
            yield '\n    envs: ['
            yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr(l_1_secret, 'env_file'))))
            yield ']\n    options:\n      labels: '
            yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr(l_1_secret, 'labels'))))
        l_1_secret = missing
    if (undefined(name='config_maps') if l_0_config_maps is missing else l_0_config_maps):
        pass
        yield '\nconfigMapGenerator:'
        for l_1_config_map in (undefined(name='config_maps') if l_0_config_maps is missing else l_0_config_maps):
            _loop_vars = {}
            pass
            yield '\n  - name: '
            yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr(l_1_config_map, 'name'))))
            if environment.getattr(l_1_config_map, 'env'):
                pass
                yield '\n    envs: ['
                yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr(l_1_config_map, 'file'))))
                yield ']'
            else:
                pass
                yield '\n    files: ['
                yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr(l_1_config_map, 'file'))))
                yield ']'
            yield '\n    options:\n      labels: '
            yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr(l_1_config_map, 'labels'))))
        l_1_config_map = missing

blocks = {}
debug_info = '6=22&7=24&8=25&10=28&11=32&12=34&14=36&18=38&20=41&21=45&22=46&23=49&25=54&28=57'
