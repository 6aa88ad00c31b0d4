"""render/templates/k8s/workload.yaml.j2, compiled by python -m dbstack.render.compiled: generated, do not edit."""
# mypy: ignore-errors
# ruff: noqa
SOURCE_SHA256 = 'f7cc75ed28d4abb1bc331375ce2c73248751a34b04c632453b5b7380e673448a'
JINJA_VERSION = '3.1.6'
from jinja2.runtime import LoopContext, Macro, Markup, Namespace, TemplateNotFound, TemplateReference, TemplateRuntimeError, Undefined, escape, identity, internalcode, markup_join, missing, str_join
name = None

def root(context, missing=missing):
    resolve = context.resolve_or_missing
    undefined = environment.undefined
    concat = environment.concat
    cond_expr_undefined = Undefined
    if 0: yield None
    l_0_kind = resolve('kind')
    l_0_name = resolve('name')
    l_0_labels = resolve('labels')
    l_0_annotations = resolve('annotations')
    l_0_headless_service = resolve('headless_service')
    l_0_replicas = resolve('replicas')
    l_0_recreate = resolve('recreate')
    l_0_selector = resolve('selector')
    l_0_pod_labels = resolve('pod_labels')
    l_0_pod_security = resolve('pod_security')
    l_0_termination_grace_period = resolve('termination_grace_period')
    l_0_anti_affinity = resolve('anti_affinity')
    l_0_container_name = resolve('container_name')
    l_0_image = resolve('image')
    l_0_image_pull_policy = resolve('image_pull_policy')
    l_0_command = resolve('command')
    l_0_args = resolve('args')
    l_0_working_dir = resolve('working_dir')
    l_0_env = resolve('env')
    l_0_env_from = resolve('env_from')
    l_0_ports = resolve('ports')
    l_0_probe = resolve('probe')
    l_0_resources = resolve('resources')
    l_0_read_only_root_filesystem = resolve('read_only_root_filesystem')
    l_0_capabilities = resolve('capabilities')
    l_0_volume_mounts = resolve('volume_mounts')
    l_0_volumes = resolve('volumes')
    l_0_volume_claim = resolve('volume_claim')
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
    yield 'apiVersion: apps/v1\nkind: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='kind') if l_0_kind is missing else l_0_kind))))
    yield '\nmetadata:\n  name: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='name') if l_0_name is missing else l_0_name))))
    yield '\n  labels: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='labels') if l_0_labels is missing else l_0_labels))))
    if (undefined(name='annotations') if l_0_annotations is missing else l_0_annotations):
        pass
        yield '\n  annotations: '
        yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='annotations') if l_0_annotations is missing else l_0_annotations))))
    yield '\nspec:'
    if ((undefined(name='kind') if l_0_kind is missing else l_0_kind) == 'StatefulSet'):
        pass
        yield '\n  serviceName: '
        yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='headless_service') if l_0_headless_service is missing else l_0_headless_service))))
    yield '\n  replicas: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='replicas') if l_0_replicas is missing else l_0_replicas))))
    if (undefined(name='recreate') if l_0_recreate is missing else l_0_recreate):
        pass
        yield '\n  strategy: {"type": "Recreate"}'
    yield '\n  selector:\n    matchLabels: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='selector') if l_0_selector is missing else l_0_selector))))
    yield '\n  template:\n    metadata:\n      labels: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='pod_labels') if l_0_pod_labels is missing else l_0_pod_labels))))
    yield '\n    spec:\n      automountServiceAccountToken: false\n      enableServiceLinks: false\n      securityContext: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='pod_security') if l_0_pod_security is missing else l_0_pod_security))))
    if (not t_2((undefined(name='termination_grace_period') if l_0_termination_grace_period is missing else l_0_termination_grace_period))):
        pass
        yield '\n      terminationGracePeriodSeconds: '
        yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='termination_grace_period') if l_0_termination_grace_period is missing else l_0_termination_grace_period))))
    if (undefined(name='anti_affinity') if l_0_anti_affinity is missing else l_0_anti_affinity):
        pass
        yield '\n      affinity:\n        podAntiAffinity:\n          preferredDuringSchedulingIgnoredDuringExecution:\n            - weight: 100\n              podAffinityTerm:\n                topologyKey: "kubernetes.io/hostname"\n                labelSelector:\n                  matchLabels: '
        yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='selector') if l_0_selector is missing else l_0_selector))))
    yield '\n      containers:\n        - name: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='container_name') if l_0_container_name is missing else l_0_container_name))))
    yield '\n          image: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='image') if l_0_image is missing else l_0_image))))
    yield '\n          imagePullPolicy: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='image_pull_policy') if l_0_image_pull_policy is missing else l_0_image_pull_policy))))
    if (undefined(name='command') if l_0_command is missing else l_0_command):
        pass
        yield '\n          command: '
        yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='command') if l_0_command is missing else l_0_command))))
    if (undefined(name='args') if l_0_args is missing else l_0_args):
        pass
        yield '\n          args: '
        yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='args') if l_0_args is missing else l_0_args))))
    if (undefined(name='working_dir') if l_0_working_dir is missing else l_0_working_dir):
        pass
        yield '\n          workingDir: '
        yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='working_dir') if l_0_working_dir is missing else l_0_working_dir))))
    if (undefined(name='env') if l_0_env is missing else l_0_env):
        pass
        yield '\n          env: '
        yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='env') if l_0_env is missing else l_0_env))))
    if (undefined(name='env_from') if l_0_env_from is missing else l_0_env_from):
        pass
        yield '\n          envFrom:'
        for l_1_config_map in (undefined(name='env_from') if l_0_env_from is missing else l_0_env_from):
            _loop_vars = {}
            pass
            yield '\n            - '
            yield str(environment.finalize(t_1(context.eval_ctx, {'configMapRef': {'name': l_1_config_map}})))
        l_1_config_map = missing
    yield '\n          ports:'
    for l_1_port in (undefined(name='ports') if l_0_ports is missing else l_0_ports):
        _loop_vars = {}
        pass
        yield '\n            - '
        yield str(environment.finalize(t_1(context.eval_ctx, {'name': environment.getattr(l_1_port, 'name'), 'containerPort': environment.getattr(l_1_port, 'container'), 'protocol': environment.getattr(l_1_port, 'protocol')})))
    l_1_port = missing
    if (undefined(name='probe') if l_0_probe is missing else l_0_probe):
        pass
        yield '\n          startupProbe:\n            exec: '
        yield str(environment.finalize(t_1(context.eval_ctx, {'command': environment.getattr((undefined(name='probe') if l_0_probe is missing else l_0_probe), 'command')})))
        yield '\n            periodSeconds: '
        yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr((undefined(name='probe') if l_0_probe is missing else l_0_probe), 'period'))))
        yield '\n            timeoutSeconds: '
        yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr((undefined(name='probe') if l_0_probe is missing else l_0_probe), 'timeout'))))
        yield '\n            failureThreshold: '
        yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr((undefined(name='probe') if l_0_probe is missing else l_0_probe), 'startup_failure_threshold'))))
        yield '\n          readinessProbe:\n            exec: '
        yield str(environment.finalize(t_1(context.eval_ctx, {'command': environment.getattr((undefined(name='probe') if l_0_probe is missing else l_0_probe), 'command')})))
        yield '\n            periodSeconds: '
        yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr((undefined(name='probe') if l_0_probe is missing else l_0_probe), 'period'))))
        yield '\n            timeoutSeconds: '
        yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr((undefined(name='probe') if l_0_probe is missing else l_0_probe), 'timeout'))))
        yield '\n            failureThreshold: '
        yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr((undefined(name='probe') if l_0_probe is missing else l_0_probe), 'failure_threshold'))))
        yield '\n          livenessProbe:\n            exec: '
        yield str(environment.finalize(t_1(context.eval_ctx, {'command': environment.getattr((undefined(name='probe') if l_0_probe is missing else l_0_probe), 'command')})))
        yield '\n            periodSeconds: '
        yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr((undefined(name='probe') if l_0_probe is missing else l_0_probe), 'period'))))
        yield '\n            timeoutSeconds: '
        yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr((undefined(name='probe') if l_0_probe is missing else l_0_probe), 'timeout'))))
        yield '\n            failureThreshold: '
        yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr((undefined(name='probe') if l_0_probe is missing else l_0_probe), 'failure_threshold'))))
    yield '\n          resources: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='resources') if l_0_resources is missing else l_0_resources))))
    yield '\n          securityContext:\n            allowPrivilegeEscalation: false\n            privileged: false\n            readOnlyRootFilesystem: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='read_only_root_filesystem') if l_0_read_only_root_filesystem is missing else l_0_read_only_root_filesystem))))
    yield '\n            capabilities:\n              drop: ["ALL"]'
    if (undefined(name='capabilities') if l_0_capabilities is missing else l_0_capabilities):
        pass
        yield '\n              add: '
        yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='capabilities') if l_0_capabilities is missing else l_0_capabilities))))
    yield '\n            seccompProfile: {"type": "RuntimeDefault"}'
    if (undefined(name='volume_mounts') if l_0_volume_mounts is missing else l_0_volume_mounts):
        pass
        yield '\n          volumeMounts:'
        for l_1_mount in (undefined(name='volume_mounts') if l_0_volume_mounts is missing else l_0_volume_mounts):
            _loop_vars = {}
            pass
            yield '\n            - '
            yield str(environment.finalize(t_1(context.eval_ctx, l_1_mount)))
        l_1_mount = missing
    if (undefined(name='volumes') if l_0_volumes is missing else l_0_volumes):
        pass
        yield '\n      volumes:'
        for l_1_volume in (undefined(name='volumes') if l_0_volumes is missing else l_0_volumes):
            _loop_vars = {}
            pass
            yield '\n        - '
            yield str(environment.finalize(t_1(context.eval_ctx, l_1_volume)))
        l_1_volume = missing
    if (undefined(name='volume_claim') if l_0_volume_claim is missing else l_0_volume_claim):
        pass
        yield '\n  volumeClaimTemplates:\n    - metadata:\n        name: '
        yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr((undefined(name='volume_claim') if l_0_volume_claim is missing else l_0_volume_claim), 'name'))))
        yield '\n        labels: '
        yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='labels') if l_0_labels is missing else l_0_labels))))
        yield '\n      spec:\n        accessModes: ["ReadWriteOnce"]'
        if environment.getattr((undefined(name='volume_claim') if l_0_volume_claim is missing else l_0_volume_claim), 'storage_class'):
            pass
            yield '\n        storageClassName: '
            yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr((undefined(name='volume_claim') if l_0_volume_claim is missing else l_0_volume_claim), 'storage_class'))))
        yield '\n        resources:\n          requests:\n            storage: '
        yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr((undefined(name='volume_claim') if l_0_volume_claim is missing else l_0_volume_claim), 'size'))))

blocks = {}
debug_info = '5=52&7=54&8=56&9=57&10=60&13=62&14=65&16=67&17=68&21=72&24=74&28=76&29=77&30=80&32=81&40=84&43=86&44=88&45=90&46=91&47=94&49=95&50=98&52=99&53=102&55=103&56=106&58=107&60=110&61=114&65=117&66=121&68=123&70=126&71=128&72=130&73=132&75=134&76=136&77=138&78=140&80=142&81=144&82=146&83=148&85=150&89=152&92=154&93=157&96=159&98=162&99=166&102=168&104=171&105=175&108=177&111=180&112=182&115=184&116=187&120=189'
