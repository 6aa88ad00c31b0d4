"""render/templates/k8s/stack_readme.md.j2, compiled by python -m dbstack.render.compiled: generated, do not edit."""
# mypy: ignore-errors
# ruff: noqa
SOURCE_SHA256 = 'f921e52dd476866455f84e2700e5a66e175c2c448f24e50102368d463348e7be'
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
    l_0_environment = resolve('environment')
    l_0_namespace_code = resolve('namespace_code')
    l_0_rows = resolve('rows')
    l_0_to_fill = resolve('to_fill')
    l_0_regenerate = resolve('regenerate')
    l_0_user_keys = resolve('user_keys')
    l_0_workloads = resolve('workloads')
    l_0_first = resolve('first')
    l_0_ingress = resolve('ingress')
    l_0_port_forward = resolve('port_forward')
    l_0_create_user = resolve('create_user')
    l_0_credentials = resolve('credentials')
    l_0_settings = resolve('settings')
    l_0_config_file = resolve('config_file')
    l_0_config_path = resolve('config_path')
    l_0_versioned = resolve('versioned')
    l_0_namespace = resolve('namespace')
    l_0_init_scripts = resolve('init_scripts')
    l_0_renamed = resolve('renamed')
    l_0_claims = resolve('claims')
    l_0_backup = resolve('backup')
    pass
    yield str(environment.finalize((undefined(name='marker') if l_0_marker is missing else l_0_marker)))
    yield ' Regenerating replaces this file; a backup is kept. -->\n# '
    yield str(environment.finalize((undefined(name='title') if l_0_title is missing else l_0_title)))
    yield '\n\nA kustomize folder for the '
    yield str(environment.finalize((undefined(name='environment') if l_0_environment is missing else l_0_environment)))
    yield ' environment (storage, requests and limits, replicas): every resource\ngoes into the namespace '
    yield str(environment.finalize((undefined(name='namespace_code') if l_0_namespace_code is missing else l_0_namespace_code)))
    yield '. Run the commands below in this folder.\n\n| workload | kind | image | role | reached inside the cluster at |\n|---|---|---|---|---|'
    for l_1_row in (undefined(name='rows') if l_0_rows is missing else l_0_rows):
        _loop_vars = {}
        pass
        yield '\n| '
        yield str(environment.finalize(environment.getattr(l_1_row, 'name')))
        yield ' | '
        yield str(environment.finalize(environment.getattr(l_1_row, 'kind')))
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
        yield '\n1. Put these into `.env`, then run dbstack again (the command below): the pods that read them wait\n   (`CreateContainerConfigError`) until their Secret holds them.\n'
        for l_1_item in (undefined(name='to_fill') if l_0_to_fill is missing else l_0_to_fill):
            _loop_vars = {}
            pass
            yield '\n   - '
            yield str(environment.finalize(l_1_item))
        l_1_item = missing
        yield '\n\n   ```sh\n   '
        yield str(environment.finalize((undefined(name='regenerate') if l_0_regenerate is missing else l_0_regenerate)))
        yield '\n   ```'
    else:
        pass
        yield '\n1. Nothing to fill in: every value the stack needs is in `.env`, and from there in the `*-credentials.env` files.'
    if (undefined(name='user_keys') if l_0_user_keys is missing else l_0_user_keys):
        pass
        yield '\n2. These model keys are `user_provided` in `.env`: each user enters their own key in LibreChat. To share a key\n   of yours, put it there instead and run dbstack again: '
        yield str(environment.finalize((undefined(name='user_keys') if l_0_user_keys is missing else l_0_user_keys)))
        yield '.'
    yield '\n\nLook at what will be applied, apply it, and wait for every workload:\n\n```sh\nkubectl kustomize . | less\nkubectl apply -k .'
    for l_1_workload in (undefined(name='workloads') if l_0_workloads is missing else l_0_workloads):
        _loop_vars = {}
        pass
        yield '\nkubectl -n '
        yield str(environment.finalize((undefined(name='namespace') if l_0_namespace is missing else l_0_namespace)))
        yield ' rollout status '
        yield str(environment.finalize(l_1_workload))
    l_1_workload = missing
    yield '\n```\n'
    if (undefined(name='first') if l_0_first is missing else l_0_first):
        pass
        yield '\n### Reaching LibreChat\n'
        if (undefined(name='ingress') if l_0_ingress is missing else l_0_ingress):
            pass
            yield '\nThe Ingress '
            yield str(environment.finalize(environment.getattr((undefined(name='ingress') if l_0_ingress is missing else l_0_ingress), 'name')))
            yield ' sends '
            yield str(environment.finalize(environment.getattr((undefined(name='ingress') if l_0_ingress is missing else l_0_ingress), 'host')))
            yield ' to the Service '
            yield str(environment.finalize(environment.getattr((undefined(name='ingress') if l_0_ingress is missing else l_0_ingress), 'service')))
            yield " (the cluster's\ndefault IngressClass): point that name at your Ingress controller."
            if environment.getattr((undefined(name='ingress') if l_0_ingress is missing else l_0_ingress), 'tls'):
                pass
                yield ' TLS comes from the Secret '
                yield str(environment.finalize(environment.getattr((undefined(name='ingress') if l_0_ingress is missing else l_0_ingress), 'tls')))
                yield ', which dbstack never writes: your cert-manager\nfills it (annotate the Ingress with your issuer, or create a `Certificate` for that Secret).'
            yield ' Then open '
            yield str(environment.finalize(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'domain')))
            yield '.'
        else:
            pass
            yield '\n'
            yield str(environment.finalize(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'domain')))
            yield ' is no DNS name an Ingress can serve, so there is none: forward the port from your machine and\nopen '
            yield str(environment.finalize(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'domain')))
            yield ' (for an Ingress, set `DOMAIN_CLIENT` and `DOMAIN_SERVER` in librechat.env to\n`https://NAME`, with `SESSION_COOKIE_SECURE=true`, and regenerate):\n\n```sh\n'
            yield str(environment.finalize((undefined(name='port_forward') if l_0_port_forward is missing else l_0_port_forward)))
            yield '\n```'
            if environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'https'):
                pass
                yield "\n\nA port-forward carries the api's plain HTTP: an `https` address needs TLS in front of it, which here means an\nIngress for a DNS name (set it in librechat.env as above and regenerate)."
        yield '\n\n### The first user\n'
        if (environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'registration') == 'open'):
            pass
            yield '\nSign-up is open: **the first account registered becomes the admin**. Then close sign-up: set\n`'
            yield str(environment.finalize(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'registration_variable')))
            yield '=false` in '
            yield str(environment.finalize(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'settings_file')))
            yield " and run `kubectl apply -k .` (the\nConfigMap's new name rolls the api's pod)."
        else:
            pass
            yield "\nSign-up is closed: create each user in the running api with LibreChat's own script (it asks for the new\nuser's details on the terminal, hence `-it`):\n\n```sh\n"
            yield str(environment.finalize((undefined(name='create_user') if l_0_create_user is missing else l_0_create_user)))
            yield '\n```\n\nTo open sign-up, set `'
            yield str(environment.finalize(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'registration_variable')))
            yield '=true` in '
            yield str(environment.finalize(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'settings_file')))
            yield ' and run\n`kubectl apply -k .`.'
        if environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'https'):
            pass
            yield ' Cookies are marked secure (`https` address).'
        else:
            pass
            yield ' The address is plain `http`:\ncookies are not marked secure, so logins persist without TLS; serve an `https` address for anything others reach.'
        yield '\n'
    yield "\n## Secrets and settings\n\n`.env` (mode 0600) holds every password and key. Each run of dbstack writes them from there into the files\nkustomize's `secretGenerator` reads ("
    yield str(environment.finalize((undefined(name='credentials') if l_0_credentials is missing else l_0_credentials)))
    yield ', mode 0600): change a value in `.env` and run dbstack\nagain, never in those files (they are replaced). Keep `.env`: each database stored its password when it first\nstarted, so a new value would lock you out. No manifest holds a secret.'
    if (undefined(name='settings') if l_0_settings is missing else l_0_settings):
        pass
        yield '\n\nYour own settings go in '
        yield str(environment.finalize((undefined(name='settings') if l_0_settings is missing else l_0_settings)))
        yield ': dbstack rewrites them only while they hold what it wrote,\nnever once you change them. kustomize makes a\nConfigMap of each (read by the pods; a change applies at the next `kubectl apply -k .`). kustomize reads\n`KEY=value` lines literally (no quotes, no escapes, no `${...}`), and a ConfigMap is no Secret: keys belong in\n`.env`.'
    if (undefined(name='config_file') if l_0_config_file is missing else l_0_config_file):
        pass
        yield '\n\n'
        yield str(environment.finalize((undefined(name='config_file') if l_0_config_file is missing else l_0_config_file)))
        yield " is LibreChat's config file (custom endpoints, interface, ...), mounted read-only into the api\nat "
        yield str(environment.finalize((undefined(name='config_path') if l_0_config_path is missing else l_0_config_path)))
        yield '.'
    if (undefined(name='versioned') if l_0_versioned is missing else l_0_versioned):
        pass
        yield '\n\n## Upgrading '
        yield str(environment.finalize(environment.getattr((undefined(name='versioned') if l_0_versioned is missing else l_0_versioned), 'what')))
        yield '\n\n'
        yield str(environment.finalize(environment.getattr((undefined(name='versioned') if l_0_versioned is missing else l_0_versioned), 'what')))
        yield ' opens only data written by its own version, so its claim template carries the version\n('
        yield str(environment.finalize(environment.getattr((undefined(name='versioned') if l_0_versioned is missing else l_0_versioned), 'claim')))
        yield ": the pod's claim is "
        yield str(environment.finalize(environment.getattr((undefined(name='versioned') if l_0_versioned is missing else l_0_versioned), 'pvc')))
        yield "). Kubernetes never changes a StatefulSet's\nvolumeClaimTemplates: when a regeneration moves to another version (dbstack says so), `kubectl apply -k .` is\nrefused for "
        yield str(environment.finalize(environment.getattr((undefined(name='versioned') if l_0_versioned is missing else l_0_versioned), 'statefulset')))
        yield ' and the old version keeps running on its data. Move the data with a dump\n(Meilisearch\'s dumps: https://specs.meilisearch.dev/specifications/text/0105-dumps-api.html):\n\n```sh\n# 1. With the old version (still running): create a dump, repeat the second call until its task has\n#    "status":"succeeded", then copy the dump (NAME.dump, from the listing) out of the pod.\n'
        yield str(environment.finalize(environment.getattr((undefined(name='versioned') if l_0_versioned is missing else l_0_versioned), 'dump')))
        yield '\n'
        yield str(environment.finalize(environment.getattr((undefined(name='versioned') if l_0_versioned is missing else l_0_versioned), 'tasks')))
        yield '\nkubectl -n '
        yield str(environment.finalize((undefined(name='namespace') if l_0_namespace is missing else l_0_namespace)))
        yield ' exec '
        yield str(environment.finalize(environment.getattr((undefined(name='versioned') if l_0_versioned is missing else l_0_versioned), 'pod')))
        yield ' -- ls '
        yield str(environment.finalize(environment.getattr((undefined(name='versioned') if l_0_versioned is missing else l_0_versioned), 'data_dir')))
        yield '/dumps\nkubectl -n '
        yield str(environment.finalize((undefined(name='namespace') if l_0_namespace is missing else l_0_namespace)))
        yield ' cp '
        yield str(environment.finalize(environment.getattr((undefined(name='versioned') if l_0_versioned is missing else l_0_versioned), 'pod')))
        yield ':'
        yield str(environment.finalize(environment.getattr((undefined(name='versioned') if l_0_versioned is missing else l_0_versioned), 'data_dir')))
        yield '/dumps/NAME.dump NAME.dump\n# 2. Replace the StatefulSet: the old claim outlives it; the new version starts on an empty claim.\nkubectl -n '
        yield str(environment.finalize((undefined(name='namespace') if l_0_namespace is missing else l_0_namespace)))
        yield ' delete statefulset '
        yield str(environment.finalize(environment.getattr((undefined(name='versioned') if l_0_versioned is missing else l_0_versioned), 'name')))
        yield '\nkubectl apply -k .\n# 3. Import: copy the dump in, empty the database (Meilisearch refuses to import over one), then start once\n#    with MEILI_IMPORT_DUMP and without the startup and liveness probes: no HTTP is served until the import is\n#    done, and the probes would kill a longer import. Wait until the pod is ready (the import is done).\nkubectl -n '
        yield str(environment.finalize((undefined(name='namespace') if l_0_namespace is missing else l_0_namespace)))
        yield ' cp NAME.dump '
        yield str(environment.finalize(environment.getattr((undefined(name='versioned') if l_0_versioned is missing else l_0_versioned), 'pod')))
        yield ':'
        yield str(environment.finalize(environment.getattr((undefined(name='versioned') if l_0_versioned is missing else l_0_versioned), 'data_dir')))
        yield '/import.dump\nkubectl -n '
        yield str(environment.finalize((undefined(name='namespace') if l_0_namespace is missing else l_0_namespace)))
        yield ' exec '
        yield str(environment.finalize(environment.getattr((undefined(name='versioned') if l_0_versioned is missing else l_0_versioned), 'pod')))
        yield ' -- rm -rf '
        yield str(environment.finalize(environment.getattr((undefined(name='versioned') if l_0_versioned is missing else l_0_versioned), 'data_dir')))
        yield '/data.ms\n'
        yield str(environment.finalize(environment.getattr((undefined(name='versioned') if l_0_versioned is missing else l_0_versioned), 'import_patch')))
        yield '\nkubectl -n '
        yield str(environment.finalize((undefined(name='namespace') if l_0_namespace is missing else l_0_namespace)))
        yield ' rollout status statefulset/'
        yield str(environment.finalize(environment.getattr((undefined(name='versioned') if l_0_versioned is missing else l_0_versioned), 'name')))
        yield '\n# 4. Back to the stack as written: drop the variable first (a start with it on the imported database would\n#    fail), then apply, which puts the probes back.\nkubectl -n '
        yield str(environment.finalize((undefined(name='namespace') if l_0_namespace is missing else l_0_namespace)))
        yield ' set env statefulset/'
        yield str(environment.finalize(environment.getattr((undefined(name='versioned') if l_0_versioned is missing else l_0_versioned), 'name')))
        yield ' MEILI_IMPORT_DUMP-\nkubectl apply -k .\n```\n\nCheck your search, then delete the old claim (dbstack names it) with `kubectl -n '
        yield str(environment.finalize((undefined(name='namespace') if l_0_namespace is missing else l_0_namespace)))
        yield ' delete pvc OLD`.'
    yield "\n\n## Regenerating\n\nRunning dbstack again keeps `.env`, your settings files and your edits to them. A file dbstack wrote that the\nstack no longer has (a role left out, an Ingress no longer needed) is removed when you did not change it, and\nnamed when you did (`.dbstack-files` records what dbstack wrote). `kubectl apply -k .` deletes nothing from the\ncluster: dbstack prints the kubectl commands that delete what the folder no longer describes.\n\n## What differs from the compose stack and from LibreChat's Helm chart, and why\n\n- Every database is a StatefulSet of the official image pinned in dbstack's catalog, with authentication on\n  (the Helm chart installs Bitnami sub-charts, MongoDB with `auth.enabled: false`); LibreChat reaches MongoDB as\n  its own user, made on MongoDB's first start by "
    yield str(environment.finalize(((undefined(name='init_scripts') if l_0_init_scripts is missing else l_0_init_scripts) or 'its init script')))
    yield " (a ConfigMap).\n- Every password is generated into `.env` and from there into Secrets (the chart expects you to create\n  `librechat-credentials-env` yourself).\n- Probes, requests and limits, security contexts and a NetworkPolicy per workload (each admits only the pods\n  labelled as its clients; the api's admits anyone on its port, for the Ingress controller).\n- The api runs one pod, replaced not rolled (`strategy: Recreate`): its uploads, images, logs and data are on\n  ReadWriteOnce claims. More pods need ReadWriteMany storage (or S3 file storage) and Redis for shared sessions."
    for (l_1_old, l_1_new) in (undefined(name='renamed') if l_0_renamed is missing else l_0_renamed):
        _loop_vars = {}
        pass
        yield '\n- The service '
        yield str(environment.finalize(l_1_old))
        yield ' is the Service '
        yield str(environment.finalize(l_1_new))
        yield ' (a Kubernetes name is a DNS label), and the addresses that name\n  it say so.'
    l_1_old = l_1_new = missing
    yield '\n- No `host.docker.internal` (there is no Docker host in a cluster): point an Ollama endpoint at a Service.\n- The api does not wait for MongoDB: Kubernetes restarts it until MongoDB answers.'
    if (undefined(name='versioned') if l_0_versioned is missing else l_0_versioned):
        pass
        yield '\n- The '
        yield str(environment.finalize(environment.getattr((undefined(name='versioned') if l_0_versioned is missing else l_0_versioned), 'what')))
        yield " claim template carries the image's version, as upstream's `meili_data_v1.x` folder does."
    yield '\n\n## Back up\n\n- the data claims '
    yield str(environment.finalize((undefined(name='claims') if l_0_claims is missing else l_0_claims)))
    yield " (snapshot them with your storage's tools, or dump each database from a Job)\n- `.env`"
    if (undefined(name='backup') if l_0_backup is missing else l_0_backup):
        pass
        yield ', '
        yield str(environment.finalize((undefined(name='backup') if l_0_backup is missing else l_0_backup)))

blocks = {}
debug_info = '4=34&5=36&7=38&8=40&12=42&13=46&17=58&20=61&21=65&25=68&30=73&32=76&40=79&41=83&44=88&46=91&47=94&49=100&51=106&53=111&54=113&58=115&60=117&68=121&70=124&77=131&80=133&83=137&90=145&93=147&95=150&101=152&103=155&104=157&106=159&108=162&110=164&111=166&113=170&119=172&120=174&121=176&122=182&124=188&129=192&130=198&131=204&132=206&135=210&139=214&153=217&160=219&161=223&166=229&167=232&172=235&173=237'
