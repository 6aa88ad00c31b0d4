"""render/templates/service.yaml.j2, compiled by python -m dbstack.render.compiled: generated, do not edit."""
# mypy: ignore-errors
# ruff: noqa
SOURCE_SHA256 = '0270afe1696f0372ae8e73c7fdeef5eb4b887d36763b92d0e397099990c6a37c'
JINJA_VERSION = '3.1.6'
from jinja2.runtime import LoopContext, Macro, Markup, Namespace, TemplateNotFound, TemplateReference, TemplateRuntimeError, Undefined, escape, identity, internalcode, markup_join, missing, str_join
name = None

def root(context, missing=missing):
    resolve = context.resolve_or_missing
    undefined = environment.undefined
    concat = environment.concat
    cond_expr_undefined = Undefined
    if 0: yield None
    l_0_image = resolve('image')
    l_0_command = resolve('command')
    l_0_user = resolve('user')
    l_0_environment = resolve('environment')
    l_0_env_file = resolve('env_file')
    l_0_service_environment = resolve('service_environment')
    l_0_ports = resolve('ports')
    l_0_volumes = resolve('volumes')
    l_0_depends_on = resolve('depends_on')
    l_0_healthcheck = resolve('healthcheck')
    l_0_capabilities = resolve('capabilities')
    try:
        t_1 = environment.filters['tojson']
    except KeyError:
        @internalcode
        def t_1(*unused):
            raise TemplateRuntimeError("No filter named 'tojson' found.")
    pass
    yield 'image: '
    yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='image') if l_0_image is missing else l_0_image))))
    if (undefined(name='command') if l_0_command is missing else l_0_command):
        pass
        yield '\ncommand: '
        yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='command') if l_0_command is missing else l_0_command))))
    if (undefined(name='user') if l_0_user is missing else l_0_user):
        pass
        yield '\nuser: '
        yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='user') if l_0_user is missing else l_0_user))))
    yield '\nrestart: '
    yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr((undefined(name='environment') if l_0_environment is missing else l_0_environment), 'restart'))))
    if (undefined(name='env_file') if l_0_env_file is missing else l_0_env_file):
        pass
        yield '\nenv_file:\n  - '
        yield str(environment.finalize(t_1(context.eval_ctx, {'path': (undefined(name='env_file') if l_0_env_file is missing else l_0_env_file), 'required': True})))
    if (undefined(name='service_environment') if l_0_service_environment is missing else l_0_service_environment):
        pass
        yield '\nenvironment: '
        yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='service_environment') if l_0_service_environment is missing else l_0_service_environment))))
    if (undefined(name='ports') if l_0_ports is missing else l_0_ports):
        pass
        yield '\nports:'
        for l_1_port in (undefined(name='ports') if l_0_ports is missing else l_0_ports):
            _loop_vars = {}
            pass
            yield '\n  - '
            yield str(environment.finalize(t_1(context.eval_ctx, l_1_port)))
        l_1_port = missing
    if (undefined(name='volumes') if l_0_volumes is missing else l_0_volumes):
        pass
        yield '\nvolumes:'
        for l_1_volume in (undefined(name='volumes') if l_0_volumes is missing else l_0_volumes):
            _loop_vars = {}
            pass
            yield '\n  - '
            yield str(environment.finalize(t_1(context.eval_ctx, l_1_volume)))
        l_1_volume = missing
    if (undefined(name='depends_on') if l_0_depends_on is missing else l_0_depends_on):
        pass
        yield '\ndepends_on:'
        for l_1_name in (undefined(name='depends_on') if l_0_depends_on is missing else l_0_depends_on):
            _loop_vars = {}
            pass
            yield '\n  '
            yield str(environment.finalize(t_1(context.eval_ctx, l_1_name)))
            yield ': '
            yield str(environment.finalize(t_1(context.eval_ctx, {'condition': environment.getattr((undefined(name='environment') if l_0_environment is missing else l_0_environment), 'depends_on_condition'), 'restart': True})))
        l_1_name = missing
    yield '\nhealthcheck:\n  test: '
    yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr((undefined(name='healthcheck') if l_0_healthcheck is missing else l_0_healthcheck), 'test'))))
    yield '\n  interval: '
    yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr((undefined(name='healthcheck') if l_0_healthcheck is missing else l_0_healthcheck), 'interval'))))
    yield '\n  timeout: '
    yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr((undefined(name='healthcheck') if l_0_healthcheck is missing else l_0_healthcheck), 'timeout'))))
    yield '\n  retries: '
    yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr((undefined(name='healthcheck') if l_0_healthcheck is missing else l_0_healthcheck), 'retries'))))
    yield '\n  start_period: '
    yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr((undefined(name='healthcheck') if l_0_healthcheck is missing else l_0_healthcheck), 'start_period'))))
    if environment.getattr(environment.getattr((undefined(name='environment') if l_0_environment is missing else l_0_environment), 'security'), 'no_new_privileges'):
        pass
        yield '\nsecurity_opt: ["no-new-privileges:true"]'
    if environment.getattr(environment.getattr((undefined(name='environment') if l_0_environment is missing else l_0_environment), 'security'), 'drop_all_capabilities'):
        pass
        yield '\ncap_drop: ["ALL"]'
        if (undefined(name='capabilities') if l_0_capabilities is missing else l_0_capabilities):
            pass
            yield '\ncap_add: '
            yield str(environment.finalize(t_1(context.eval_ctx, (undefined(name='capabilities') if l_0_capabilities is missing else l_0_capabilities))))
    yield '\nmem_limit: '
    yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr(environment.getattr((undefined(name='environment') if l_0_environment is missing else l_0_environment), 'resources'), 'memory'))))
    yield '\ncpus: '
    yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr(environment.getattr((undefined(name='environment') if l_0_environment is missing else l_0_environment), 'resources'), 'cpus'))))
    yield '\npids_limit: '
    yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr(environment.getattr((undefined(name='environment') if l_0_environment is missing else l_0_environment), 'resources'), 'pids'))))
    yield '\nlogging: '
    yield str(environment.finalize(t_1(context.eval_ctx, environment.getattr((undefined(name='environment') if l_0_environment is missing else l_0_environment), 'logging'))))

blocks = {}
debug_info = '4=29&5=30&6=33&8=34&9=37&11=39&12=40&14=43&16=44&17=47&19=48&21=51&22=55&25=57&27=60&28=64&31=66&33=69&34=73&38=78&39=80&40=82&41=84&42=86&43=87&46=90&48=93&49=96&52=98&53=100&54=102&55=104'
