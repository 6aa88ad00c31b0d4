"""render/templates/k8s/persistentvolumeclaim.yaml.j2, compiled by python -m dbstack.render.compiled: generated, do not edit."""
# mypy: ignore-errors
# ruff: noqa
SOURCE_SHA256 = '2f986a10577dbf71647e80191c2205eaae6b77be17766069ed9b65dbf2a536b8'
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
    l_0_storage_class = resolve('storage_class')
    l_0_size = resolve('size')
    try:
        t_1 = environment.filters['tojson']
    except KeyError:
        @internalcode
        def t_1(*unused):
            raise TemplateRuntimeError("No filter named 'tojson' found.")
    pass
    yield 'apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='name') if l_0_name is missing else l_0_name))))
    yield '\n  labels: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='labels') if l_0_labels is missing else l_0_labels))))
    yield '\nspec:\n  accessModes: ["ReadWriteOnce"]'
    if (undefined(name='storage_class') if l_0_storage_class is missing else l_0_storage_class):
        pass
        yield '\n  storageClassName: '
        yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='storage_class') if l_0_storage_class is missing else l_0_storage_class))))
    yield '\n  resources:\n    requests:\n      storage: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='size') if l_0_size is missing else l_0_size))))

blocks = {}
debug_info = '6=22&7=24&10=26&11=29&15=31'
