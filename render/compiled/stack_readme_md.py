"""render/templates/stack_readme.md.j2, compiled by python -m dbstack.render.compiled: generated, do not edit."""
# mypy: ignore-errors
# ruff: noqa
SOURCE_SHA256 = 'd5c462132ed03da9970cb7d2059cf3106879baf73532dd6883f163dc19574d23'
JINJA_VERSION = '3.1.6'
from jinja2.runtime import LoopContext, Macro, Markup, Namespace, TemplateNotFound, TemplateReference, TemplateRuntimeError, Undefined, escape, identity, internalcode, markup_join, missing, str_join
name = None

def root(context, missing=missing):
    resolve = context.resolve_or_missing
    undefined = environment.undefined
    concat = environment.concat
    cond_expr_undefined = Undefined
    if 0: yield None
    l_0_marker = resolve('marker')
    l_0_title = resolve('title')
    l_0_description = resolve('description')
    l_0_rows = resolve('rows')
    l_0_to_fill = resolve('to_fill')
    l_0_user_keys = resolve('user_keys')
    l_0_first = resolve('first')
    l_0_proxy = resolve('proxy')
    l_0_waits = resolve('waits')
    l_0_secret_files = resolve('secret_files')
    l_0_copied_secrets = resolve('copied_secrets')
    l_0_settings = resolve('settings')
    l_0_config_file = resolve('config_file')
    l_0_versioned = resolve('versioned')
    l_0_versioned_volume = resolve('versioned_volume')
    l_0_differences = resolve('differences')
    l_0_volumes = resolve('volumes')
    l_0_backup = resolve('backup')
    pass
    yield str(environment.finalize((undefined(name='marker') if l_0_marker is missing else l_0_marker)))
    yield ' Regenerating replaces this file; a backup is kept. -->\n# '
    yield str(environment.finalize((undefined(name='title') if l_0_title is missing else l_0_title)))
    yield '\n\n'
    yield str(environment.finalize((undefined(name='description') if l_0_description is missing else l_0_description)))
    yield '\n\n| service | image | role | reachable from the host |\n|---|---|---|---|'
    for l_1_row in (undefined(name='rows') if l_0_rows is missing else l_0_rows):
        _loop_vars = {}
        pass
        yield '\n| '
        yield str(environment.finalize(environment.getattr(l_1_row, 'service')))
        yield ' | '
        yield str(environment.finalize(environment.getattr(l_1_row, 'image')))
        yield ' | '
        yield str(environment.finalize(environment.getattr(l_1_row, 'what')))
        yield ' | '
        yield str(environment.finalize(environment.getattr(l_1_row, 'reach')))
        yield ' |'
    l_1_row = missing
    yield '\n\n## First start\n'
    if (undefined(name='to_fill') if l_0_to_fill is missing else l_0_to_fill):
        pass
        yield '\n1. Put these into `.env` (`docker compose up` refuses to start, naming the first one missing, until they are there):\n'
        for l_1_item in (undefined(name='to_fill') if l_0_to_fill is missing else l_0_to_fill):
            _loop_vars = {}
            pass
            yield '\n   - '
            yield str(environment.finalize(l_1_item))
        l_1_item = missing
    else:
        pass
        yield '\n1. Nothing to fill in: every value the stack needs is in `.env`.'
    if (undefined(name='user_keys') if l_0_user_keys is missing else l_0_user_keys):
        pass
        yield '\n2. These model keys are `user_provided` in `.env`: each user enters their own key in LibreChat. Put a key of\n   yours there instead to share it: '
        yield str(environment.finalize((undefined(name='user_keys') if l_0_user_keys is missing else l_0_user_keys)))
        yield '.'
    yield '\n'
    if (undefined(name='first') if l_0_first is missing else l_0_first):
        pass
        yield '\nOpen '
        yield str(environment.finalize(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'domain')))
        yield '.'
        if (environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'registration') == 'open'):
            pass
            yield ' Sign-up is open: **the first account registered becomes the admin**.\nThen close sign-up: set `'
            yield str(environment.finalize(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'registration_variable')))
            yield '=false` in '
            yield str(environment.finalize(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'settings_file')))
            yield ' and run\n`docker compose up -d`.'
        else:
            pass
            yield " Sign-up is closed: create each user in the running stack with LibreChat's own script:\n\n```sh\n"
            yield str(environment.finalize(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'create_user')))
            yield '\n```\n\n(To open sign-up, set `'
            yield str(environment.finalize(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'registration_variable')))
            yield '=true` in '
            yield str(environment.finalize(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'settings_file')))
            yield ' and run `docker compose up -d`.)'
        if environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'https'):
            pass
            yield ' Cookies are marked secure (`https` address).'
        else:
            pass
            yield ' The address is plain `http`:\ncookies are not marked secure, so logins persist without TLS; use an `https` address behind a TLS proxy for\nanything others reach.'
        yield '\n'
    if (undefined(name='proxy') if l_0_proxy is missing else l_0_proxy):
        pass
        yield '\n'
        yield str(environment.finalize(environment.getattr((undefined(name='proxy') if l_0_proxy is missing else l_0_proxy), 'name')))
        yield ' serves '
        yield str(environment.finalize(environment.getattr((undefined(name='proxy') if l_0_proxy is missing else l_0_proxy), 'domain')))
        yield ' over HTTPS and forwards to the api, which is published nowhere.'
        if environment.getattr((undefined(name='proxy') if l_0_proxy is missing else l_0_proxy), 'internal'):
            pass
            yield " The name is local or private, so no public CA can certify it: Caddy's own CA signs the\ncertificate. Trust that CA on the machines that open the address (once, after the first `docker compose up -d`):\n\n```sh\ndocker compose cp caddy:/data/caddy/pki/authorities/local/root.crt caddy-root.crt\nsudo cp caddy-root.crt /usr/local/share/ca-certificates/caddy-root.crt && sudo update-ca-certificates   # Debian, Ubuntu\n```\n\n(Firefox keeps its own store: Settings, Certificates, Import `caddy-root.crt`. The CA lives in the volume\n"
            yield str(environment.finalize(environment.getattr((undefined(name='proxy') if l_0_proxy is missing else l_0_proxy), 'volume')))
            yield ': keep it, or every browser must trust a new one.)'
        else:
            pass
            yield " Caddy gets a certificate from a public CA (Let's Encrypt or ZeroSSL) on its first start: the name must\nresolve to this host, and ports 80 and 443 must be reachable from the internet."
        yield '\n'
    yield '\n## Start\n\n```sh\ndocker compose up -d\ndocker compose ps        # every service should turn healthy\n```'
    if (undefined(name='waits') if l_0_waits is missing else l_0_waits):
        pass
        yield '\n\nThe api waits for each service as LibreChat behaves:\n'
        for l_1_wait in (undefined(name='waits') if l_0_waits is missing else l_0_waits):
            _loop_vars = {}
            pass
            yield '\n- '
            yield str(environment.finalize(l_1_wait))
        l_1_wait = missing
    yield '\n\n## Secrets and settings\n\n`.env` (mode 0600) holds every password and key; `compose.yaml` only references them as `${VAR:?}`.\nKeep it: each database stored its password when it first started, so a new value would lock you out.\nRegenerating the stack keeps every value already in it.'
    if ((undefined(name='secret_files') if l_0_secret_files is missing else l_0_secret_files) or (undefined(name='copied_secrets') if l_0_copied_secrets is missing else l_0_copied_secrets)):
        pass
        yield '\n\nA database that can read its password from a file gets it as one (a Docker secret under `/run/secrets`), so\n`docker inspect` shows no database password.'
        if (undefined(name='secret_files') if l_0_secret_files is missing else l_0_secret_files):
            pass
            yield '\nThe secret files beside compose.yaml ('
            yield str(environment.finalize((undefined(name='secret_files') if l_0_secret_files is missing else l_0_secret_files)))
            yield ', mode 0600) are written from `.env` on every run:\nchange a value in `.env`, never there.'
        if (undefined(name='copied_secrets') if l_0_copied_secrets is missing else l_0_copied_secrets):
            pass
            yield '\nThe secrets made from `.env` values ('
            yield str(environment.finalize((undefined(name='copied_secrets') if l_0_copied_secrets is missing else l_0_copied_secrets)))
            yield ") are copied into the container by Compose when it\nstarts, owned by root and the database's own group (mode 0440): that needs Docker Compose 2.14.1 or later."
    if (undefined(name='settings') if l_0_settings is missing else l_0_settings):
        pass
        yield '\n\nYour own settings go in '
        yield str(environment.finalize((undefined(name='settings') if l_0_settings is missing else l_0_settings)))
        yield ': dbstack wrote them once and never overwrites them. The domain,\nsign-up and embeddings settings are there (compose.yaml does not set them, so yours win).'
    if (undefined(name='config_file') if l_0_config_file is missing else l_0_config_file):
        pass
        yield '\n'
        yield str(environment.finalize((undefined(name='config_file') if l_0_config_file is missing else l_0_config_file)))
        yield " is LibreChat's config file (custom endpoints, interface, ...), mounted read-only into the api;\nafter a change run `docker compose restart api`. To change compose.yaml itself, put a `compose.override.yaml`\nbeside it (Compose merges it; dbstack leaves it alone and names it when it regenerates)."
    if (undefined(name='versioned') if l_0_versioned is missing else l_0_versioned):
        pass
        yield '\n\n## Upgrading\n\n'
        yield str(environment.finalize((undefined(name='versioned') if l_0_versioned is missing else l_0_versioned)))
        yield ' opens only data written by its own version, so its volume carries the version\n('
        yield str(environment.finalize((undefined(name='versioned_volume') if l_0_versioned_volume is missing else l_0_versioned_volume)))
        yield '). When a regeneration moves to another version, dbstack keeps the old volume and says\nso: create a dump with the old version (`POST /dumps` with the master key), start the new version once with\n`--import-dump` on that dump, check your search, then remove the old volume.'
    if (undefined(name='differences') if l_0_differences is missing else l_0_differences):
        pass
        yield "\n\n## What differs from LibreChat's own compose file, and why\n"
        for l_1_item in (undefined(name='differences') if l_0_differences is missing else l_0_differences):
            _loop_vars = {}
            pass
            yield '\n- '
            yield str(environment.finalize(l_1_item))
        l_1_item = missing
    yield '\n\n## Back up\n\n- the volumes '
    yield str(environment.finalize((undefined(name='volumes') if l_0_volumes is missing else l_0_volumes)))
    yield '\n- `.env`'
    if (undefined(name='backup') if l_0_backup is missing else l_0_backup):
        pass
        yield ', '
        yield str(environment.finalize((undefined(name='backup') if l_0_backup is missing else l_0_backup)))

blocks = {}
debug_info = '3=29&4=31&6=33&10=35&11=39&15=49&17=52&18=56&23=61&25=64&27=67&28=70&29=72&30=75&35=82&38=84&40=88&44=95&45=98&46=102&55=105&66=112&69=115&70=119&79=122&83=125&84=128&87=130&88=133&92=135&94=138&97=140&98=143&102=145&106=148&107=150&111=152&114=155&115=159&121=162&122=164'
