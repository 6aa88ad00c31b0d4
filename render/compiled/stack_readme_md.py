"""render/templates/stack_readme.md.j2, compiled by python -m dbstack.render.compiled: generated, do not edit."""
# mypy: ignore-errors
# ruff: noqa
SOURCE_SHA256 = 'e2f0b0ac55f4d9031dc4a56dad87232346911519d773e759cfeb3f13b17fc25b'
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
    l_0_first = resolve('first')
    l_0_to_fill = resolve('to_fill')
    l_0_proxy = resolve('proxy')
    l_0_waits = resolve('waits')
    l_0_secret_files = resolve('secret_files')
    l_0_copied_secrets = resolve('copied_secrets')
    l_0_settings = resolve('settings')
    l_0_config_file = resolve('config_file')
    l_0_db_users = resolve('db_users')
    l_0_versioned = resolve('versioned')
    l_0_versioned_volume = resolve('versioned_volume')
    l_0_kept_volumes = resolve('kept_volumes')
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
    if (undefined(name='first') if l_0_first is missing else l_0_first):
        pass
        yield '\nThe steps in the order you take them.\n'
    yield '\n### 1. Keys\n'
    if (undefined(name='to_fill') if l_0_to_fill is missing else l_0_to_fill):
        pass
        yield '\nPut these into `.env` (`docker compose up` refuses to start, naming the first one missing, until they are there):\n'
        for l_1_item in (undefined(name='to_fill') if l_0_to_fill is missing else l_0_to_fill):
            _loop_vars = {}
            pass
            yield '\n- '
            yield str(environment.finalize(l_1_item))
        l_1_item = missing
    else:
        pass
        yield '\nNothing to fill in: every value the stack needs is in `.env`.'
    if (undefined(name='first') if l_0_first is missing else l_0_first):
        pass
        yield '\n\n### 2. A model to chat with\n'
        if environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'enable_model'):
            pass
            yield '\nNo model endpoint is enabled: LibreChat starts, but there is nothing to chat with. Enable a provider\n('
            yield str(environment.finalize(environment.getattr(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'enable_model'), 'providers')))
            yield ') by regenerating the stack with `--endpoint` (repeatable), e.g.:\n\n```sh\n'
            yield str(environment.finalize(environment.getattr(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'enable_model'), 'command')))
            yield '\n```\n\nIts key then goes into `.env` as `user_provided` (each user enters their own key in LibreChat); replace it\nthere with a key of yours to share it. A key you add to `.env` by hand reaches no container: only the\n`--endpoint` of a regeneration makes compose.yaml pass it to the api.'
        elif environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'model_keys'):
            pass
            yield "\nThe enabled providers' keys in `.env`:\n"
            for l_1_item in environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'model_keys'):
                _loop_vars = {}
                pass
                yield '\n- '
                yield str(environment.finalize(l_1_item))
            l_1_item = missing
            yield '\n\nReplace `user_provided` with a key of yours to share it with every user (then `docker compose up -d`).'
        else:
            pass
            yield '\nThe enabled providers need no key in `.env`.'
        if environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'paste_config'):
            pass
            yield '\n\nYou changed '
            yield str(environment.finalize(environment.getattr(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'paste_config'), 'file')))
            yield ' since dbstack wrote it, so dbstack keeps it as it is and it lacks the\nendpoints enabled here: add this block to it (merge it with an `endpoints:` it already has), then\n`docker compose restart api`:\n\n```yaml\n'
            yield str(environment.finalize(environment.getattr(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'paste_config'), 'block')))
            yield '\n```'
    if (undefined(name='proxy') if l_0_proxy is missing else l_0_proxy):
        pass
        yield '\n\n### '
        if (undefined(name='first') if l_0_first is missing else l_0_first):
            pass
            yield '3'
        else:
            pass
            yield '2'
        yield '. TLS front\n\n'
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
        yield "\n`Caddyfile` is yours after the first write: dbstack never replaces it (it warns when the file no longer\nserves the stack's address). Add directives inside the site block (`encode gzip`, `header`, `log`, ...), then\nrun `docker compose restart caddy`."
    yield '\n\n### '
    if ((undefined(name='first') if l_0_first is missing else l_0_first) and (undefined(name='proxy') if l_0_proxy is missing else l_0_proxy)):
        pass
        yield '4'
    elif (undefined(name='first') if l_0_first is missing else l_0_first):
        pass
        yield '3'
    else:
        pass
        yield '2'
    yield '. Start\n\n```sh\ndocker compose up -d\ndocker compose ps        # every service should turn healthy\n```'
    if (undefined(name='waits') if l_0_waits is missing else l_0_waits):
        pass
        yield '\n\nThe api waits for each service as LibreChat behaves:\n'
        for l_1_wait in (undefined(name='waits') if l_0_waits is missing else l_0_waits):
            _loop_vars = {}
            pass
            yield '\n- '
            yield str(environment.finalize(l_1_wait))
        l_1_wait = missing
    if (undefined(name='first') if l_0_first is missing else l_0_first):
        pass
        yield '\n\n### '
        if (undefined(name='proxy') if l_0_proxy is missing else l_0_proxy):
            pass
            yield '5'
        else:
            pass
            yield '4'
        yield '. Open '
        yield str(environment.finalize(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'domain')))
        yield ' and sign up\n'
        if environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'forward'):
            pass
            yield '\n'
            yield str(environment.finalize(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'forward')))
            yield '.\n'
        if (environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'registration') == 'open'):
            pass
            yield '\nSign-up is open: **the first account registered becomes the admin**.\nThen close sign-up: set `'
            yield str(environment.finalize(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'registration_variable')))
            yield '=false` in '
            yield str(environment.finalize(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'settings_file')))
            yield ' and run\n`docker compose up -d`.'
        else:
            pass
            yield "\nSign-up is closed: create each user in the running stack with LibreChat's own script:\n\n```sh\n"
            yield str(environment.finalize(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'create_user')))
            yield '\n```\n\n(To open sign-up, set `'
            yield str(environment.finalize(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'registration_variable')))
            yield '=true` in '
            yield str(environment.finalize(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'settings_file')))
            yield ' and run `docker compose up -d`.)'
        yield '\n'
        if ((environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'registration_default') == 'open') and (environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'registration') == 'closed')):
            pass
            yield 'Closed as chosen; open is the default in\n'
            yield str(environment.finalize(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'environment')))
            yield ' (a workstation, where you register first and so become the admin).'
        elif (environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'registration_default') == 'open'):
            pass
            yield 'Open is the default in '
            yield str(environment.finalize(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'environment')))
            yield ': a workstation, where you register\nfirst and so become the admin.'
        else:
            pass
            yield 'Closed is the default in '
            yield str(environment.finalize(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'environment')))
            yield ': anyone who reaches the address could\nregister before you and become the admin.'
        if environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'secure_cookies'):
            pass
            yield ' Cookies are marked secure (`SESSION_COOKIE_SECURE=true`): logins hold over `https` only.'
        else:
            pass
            yield ' Cookies are not marked secure (`SESSION_COOKIE_SECURE=false`), so logins persist over plain `http`; use an\n`https` address behind a TLS proxy for anything others reach.'
        yield '\n'
    yield '\n## Secrets and settings\n\n`.env` (mode 0600) holds every password and key; `compose.yaml` only references them as `${VAR:?}`.\nKeep it: each database stored its password when it first started, so a new value would lock you out.\nRegenerating the stack keeps every value already in it. A key reaches a container only where compose.yaml\nreferences it: a line you add to `.env` by hand reaches none (model keys come with `--endpoint`, embeddings keys\nwith the provider `librechat.env` names, both through a regeneration).'
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
        yield ': dbstack rewrites them only while they hold what it wrote,\nnever once you change them. The domain,\nsign-up and embeddings settings are there (compose.yaml does not set them, so yours win); a flag of a\nregeneration that asks for another value is refused: change the file.'
        if ((undefined(name='first') if l_0_first is missing else l_0_first) and environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'embeddings')):
            pass
            yield ' A change of `'
            yield str(environment.finalize(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'embeddings_variable')))
            yield "` needs a regeneration (the new provider's keys must be\npassed to rag_api; dbstack names each setting and key the provider lacks), then `docker compose up -d`."
    if (undefined(name='config_file') if l_0_config_file is missing else l_0_config_file):
        pass
        yield '\n'
        yield str(environment.finalize((undefined(name='config_file') if l_0_config_file is missing else l_0_config_file)))
        yield " is LibreChat's config file (custom endpoints, interface, ...), mounted read-only into the api;\nafter a change run `docker compose restart api`. To change compose.yaml itself, put a `compose.override.yaml`\nbeside it (Compose merges it; dbstack leaves it alone and names it when it regenerates)."
    if (undefined(name='first') if l_0_first is missing else l_0_first):
        pass
        yield '\n\nThe compose project is '
        yield str(environment.finalize(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'project')))
        yield ' (`name:` in compose.yaml): Docker names every volume and network\nafter it. A regeneration keeps it; another `--name` is refused unless `--new-project` (new, empty volumes).'
        if environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'project_from_folder'):
            pass
            yield " The name comes from this folder's name: a stack in another folder named "
            yield str(environment.finalize(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'project')))
            yield '\nwould share these volumes; give each stack its own `--name`.'
    for l_1_user in (undefined(name='db_users') if l_0_db_users is missing else l_0_db_users):
        _loop_vars = {}
        pass
        yield '\n\n## Database user\n'
        if environment.getattr(l_1_user, 'own'):
            pass
            yield '\nLibreChat logs in to '
            yield str(environment.finalize(environment.getattr(l_1_user, 'service')))
            yield ' as '
            yield str(environment.finalize(environment.getattr(l_1_user, 'app_user')))
            yield ' ('
            yield str(environment.finalize(environment.getattr(l_1_user, 'roles')))
            yield ' on '
            yield str(environment.finalize(environment.getattr(l_1_user, 'database')))
            yield ' only);\nthe root user is for administration. '
            yield str(environment.finalize(environment.getattr(l_1_user, 'script')))
            yield " created that user on the database's first start."
        else:
            pass
            yield '\nLibreChat logs in to '
            yield str(environment.finalize(environment.getattr(l_1_user, 'service')))
            yield ' as '
            yield str(environment.finalize(environment.getattr(l_1_user, 'user')))
            yield ': `'
            yield str(environment.finalize(environment.getattr(l_1_user, 'variable')))
            yield '` in `.env` is kept from before\nthis stack had its own user, and '
            yield str(environment.finalize(environment.getattr(l_1_user, 'script')))
            yield ' (which creates '
            yield str(environment.finalize(environment.getattr(l_1_user, 'app_user')))
            yield ', '
            yield str(environment.finalize(environment.getattr(l_1_user, 'roles')))
            yield ' on\n'
            yield str(environment.finalize(environment.getattr(l_1_user, 'database')))
            yield ' only) runs only on an empty database. To move LibreChat to its own user:\n\n```sh\ndocker compose up -d '
            yield str(environment.finalize(environment.getattr(l_1_user, 'service_word')))
            yield "    # the container gets the user's password from .env\n"
            yield str(environment.finalize(environment.getattr(l_1_user, 'command')))
            yield '\n```\n\n(The command creates the user with the mounted script; mongosh reads both passwords inside the container,\nfrom the secret files its `*_FILE` variables name, or else its environment, so neither is on a command line.)\nThen delete the `'
            yield str(environment.finalize(environment.getattr(l_1_user, 'variable')))
            yield '` line from `.env`, run the "Regenerate with" command from compose.yaml\'s\nheader (it writes the new user\'s URI), and `docker compose up -d`.'
    l_1_user = missing
    if (undefined(name='versioned') if l_0_versioned is missing else l_0_versioned):
        pass
        yield '\n\n## Upgrading\n\n'
        yield str(environment.finalize((undefined(name='versioned') if l_0_versioned is missing else l_0_versioned)))
        yield ' opens only data written by its own version, so its volume carries the version\n('
        yield str(environment.finalize((undefined(name='versioned_volume') if l_0_versioned_volume is missing else l_0_versioned_volume)))
        yield '). When a regeneration moves to another version, dbstack keeps the old volume\ndeclared (and records in compose.yaml, under `x-dbstack-kept-volumes`, the image that wrote it) and says so.'
        if (undefined(name='kept_volumes') if l_0_kept_volumes is missing else l_0_kept_volumes):
            pass
            yield "\nSteps from Meilisearch's own guide (https://www.meilisearch.com/docs/resources/migration/updating, dumps:\nhttps://www.meilisearch.com/docs/resources/self_hosting/data_backup/dumps):"
        for l_1_kept in (undefined(name='kept_volumes') if l_0_kept_volumes is missing else l_0_kept_volumes):
            _loop_vars = {}
            pass
            yield '\n\n### '
            yield str(environment.finalize(environment.getattr(l_1_kept, 'docker_volume')))
            yield ' to '
            yield str(environment.finalize(environment.getattr(l_1_kept, 'new_docker_volume')))
            yield '\n'
            if (not environment.getattr(l_1_kept, 'image_known')):
                pass
                yield '\nThe volume comes from before dbstack recorded images: use the tag your stack ran then (it is in the\nbackup `compose.yaml.bak-*` that holds this volume); below it is `'
                yield str(environment.finalize(environment.getattr(l_1_kept, 'image')))
                yield '`.\n'
            yield '\n1. Run the old version on the old volume: put this into `compose.override.yaml` (Compose merges it; the mount\n   replaces the one at `/meili_data`), then `docker compose up -d '
            yield str(environment.finalize(environment.getattr(l_1_kept, 'service')))
            yield '`:\n\n   ```yaml\n   services:\n     '
            yield str(environment.finalize(environment.getattr(l_1_kept, 'service')))
            yield ':\n       image: '
            yield str(environment.finalize(environment.getattr(l_1_kept, 'image')))
            yield '\n       volumes:\n         - '
            yield str(environment.finalize(environment.getattr(l_1_kept, 'volume')))
            yield ':/meili_data\n   ```\n\n2. Create a dump (the master key is read inside the container, never on a command line):\n\n   ```sh\n   docker compose exec '
            yield str(environment.finalize(environment.getattr(l_1_kept, 'service')))
            yield ' sh -c \'printf "Authorization: Bearer %s\\n" "$MEILI_MASTER_KEY" | curl -sS -X POST -H @- http://127.0.0.1:7700/dumps\'\n   docker compose exec '
            yield str(environment.finalize(environment.getattr(l_1_kept, 'service')))
            yield " ls /meili_data/dumps     # the dump, once its task succeeded\n   ```\n\n   The dump lands in the old volume, in `/meili_data/dumps/` (the image's working directory is `/meili_data`).\n3. Import it into the new version, on an empty new volume: Meilisearch refuses `--import-dump` when its volume\n   already holds a database (`data.ms`), as it does once the new version has started, and serves no HTTP until\n   the import is done (https://specs.meilisearch.dev/specifications/text/0105-dumps-api.html). Remove the\n   container and the new volume (what the new version indexed since is dropped; the import brings the old data;\n   an error that the volume does not exist is fine), replace `compose.override.yaml` with this (DUMP: the file\n   name from step 2), then `docker compose up -d "
            yield str(environment.finalize(environment.getattr(l_1_kept, 'service')))
            yield '`:\n\n   ```sh\n   docker compose rm --stop --force '
            yield str(environment.finalize(environment.getattr(l_1_kept, 'service')))
            yield '\n   docker volume rm '
            yield str(environment.finalize(environment.getattr(l_1_kept, 'new_docker_volume')))
            yield '\n   ```\n\n   ```yaml\n   services:\n     '
            yield str(environment.finalize(environment.getattr(l_1_kept, 'service')))
            yield ':\n       command: ["meilisearch", "--import-dump", "/old/dumps/DUMP.dump"]\n       volumes:\n         - '
            yield str(environment.finalize(environment.getattr(l_1_kept, 'volume')))
            yield ':/old:ro\n   ```\n\n4. Delete `compose.override.yaml`, run `docker compose up -d`, check your search. Then drop the old volume:\n   delete its line `'
            yield str(environment.finalize(environment.getattr(l_1_kept, 'volume')))
            yield ': {}` (and its entry under `x-dbstack-kept-volumes`) from compose.yaml,\n   regenerate, and `docker volume rm '
            yield str(environment.finalize(environment.getattr(l_1_kept, 'docker_volume')))
            yield '`.'
        l_1_kept = missing
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
debug_info = '3=30&4=32&6=34&10=36&11=40&15=50&19=54&21=57&22=61&27=66&30=69&32=72&35=74&41=76&43=79&44=83&51=89&53=92&58=94&62=96&64=99&66=106&67=110&76=113&85=120&91=130&94=133&95=137&98=139&100=142&101=151&102=154&104=156&106=159&112=166&115=168&117=173&118=176&119=178&120=186&122=188&133=196&137=199&138=202&141=204&142=207&146=209&148=212&152=214&156=219&157=222&161=224&163=227&165=229&168=234&171=238&172=241&173=249&175=254&176=260&177=266&180=268&181=270&186=272&190=275&194=278&195=280&197=282&201=285&203=289&204=293&206=296&209=299&213=301&214=303&216=305&222=307&223=309&232=311&235=313&236=315&241=317&244=319&248=321&249=323&252=326&255=329&256=333&262=336&263=338'
