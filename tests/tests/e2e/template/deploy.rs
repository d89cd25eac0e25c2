//! Deploying: production refuses localhost and never prompts; the template, the operations and
//! the dev probes follow the route table.

use super::*;

/// `make deploy ENV=prod` (scripts/deploy.sh, dry run): refuses to deploy prod with the localhost
/// addresses or without them, and otherwise deploys without a prompt, passing the parameters
/// it was given (and none it was not, so an update keeps the stack's values).
#[test]
fn deploying_prod_refuses_localhost_and_never_prompts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let deploy = |env: &[(&str, &str)]| {
        let mut command = Command::new("bash");
        command
            .args(["scripts/deploy.sh", "prod"])
            .current_dir(root)
            .env("DEPLOY_DRY_RUN", "1");
        for name in [
            "CORS_ALLOWED_ORIGINS",
            "APP_URL",
            "MAIL_FROM",
            "DATABASE_URL",
            "ALARM_TOPIC_ARN",
            "EXISTING_KEYS_SECRET_ARN",
        ] {
            command.env_remove(name);
        }
        command.envs(env.iter().copied());
        command.output().unwrap()
    };
    let good = [
        ("CORS_ALLOWED_ORIGINS", "https://app.example.com"),
        ("APP_URL", "https://app.example.com"),
        ("MAIL_FROM", "Shop <shop@example.com>"),
    ];
    for (name, local) in [
        ("CORS_ALLOWED_ORIGINS", "http://localhost:3000"),
        ("APP_URL", "http://127.0.0.1:3000"),
        ("MAIL_FROM", "Stockroom <no-reply@localhost>"),
    ] {
        let mut env = good.to_vec();
        env.retain(|(n, _)| *n != name);
        let missing = deploy(&env);
        assert_eq!(missing.status.code(), Some(2), "{name} missing");
        env.push((name, local));
        let refused = deploy(&env);
        assert_eq!(refused.status.code(), Some(2), "{name}={local}");
        assert!(String::from_utf8_lossy(&refused.stderr).contains(name));
    }
    let ok = deploy(&good);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let commands = String::from_utf8_lossy(&ok.stdout);
    assert!(commands.contains("--no-confirm-changeset"), "{commands}");
    assert!(commands.contains("Stage=prod"), "{commands}");
    assert!(commands.contains("AppUrl="), "{commands}");
    assert!(!commands.contains("DatabaseUrl="), "{commands}");
    assert!(!commands.contains("DatabaseStack="), "{commands}");

    // With the database stack, its name is all the main stack needs; the database stack itself
    // deploys with the AWS CLI, without a prompt either.
    let mut with_stack = good.to_vec();
    with_stack.push(("DATABASE_STACK", "stockroom-database-prod"));
    let commands = String::from_utf8_lossy(&deploy(&with_stack).stdout).into_owned();
    assert!(
        commands.contains("DatabaseStack=\\\"stockroom-database-prod\\\""),
        "{commands}"
    );
    let database = Command::new("bash")
        .args(["scripts/deploy-database.sh", "prod"])
        .current_dir(root)
        .env("DEPLOY_DRY_RUN", "1")
        .output()
        .unwrap();
    assert!(database.status.success());
    let command = String::from_utf8_lossy(&database.stdout);
    assert!(
        command.contains("--template-file database.yaml")
            && command.contains("--stack-name stockroom-database-prod")
            && command.contains("Stage=prod"),
        "{command}"
    );
}

/// One route table, the workspace Cargo.toml's watch router (`e2e::routes`): every path of the
/// REST API goes to the function the table names; every documented operation is served by the
/// function that documents it, both by the table and by the REST API; `make dev` probes each
/// function of the table once, at a path that function serves.
#[test]
fn the_template_the_operations_and_the_dev_probes_follow_the_route_table() {
    use api::routes::{self, example, most_specific};

    let template = expanded();
    let paths = template["Resources"]["Api"]["Properties"]["Body"]["paths"]
        .as_object()
        .unwrap();
    let functions = routes::functions();
    let in_aws: Vec<(&str, &str)> = paths
        .iter()
        .map(|(path, methods)| {
            let uri = methods
                .as_object()
                .unwrap()
                .iter()
                .find(|(method, _)| method.as_str() != "options")
                .map(|(_, operation)| {
                    operation["x-amazon-apigateway-integration"]["uri"].to_string()
                })
                .unwrap_or_default();
            let function = functions
                .iter()
                .find(|f| uri.contains(&format!("${{{}Function.Arn}}", capitalized(f))))
                .unwrap_or_else(|| panic!("{path} in template.yaml invokes no function: {uri}"));
            (path.as_str(), *function)
        })
        .collect();
    for (path, function) in &in_aws {
        let served_by = routes::function_for(&example(path));
        assert_eq!(served_by, Some(*function), "{path} in template.yaml");
    }

    for (function, part) in api::openapi::parts() {
        for path in part.paths.paths.keys() {
            let concrete = example(path);
            assert_eq!(
                routes::function_for(&concrete),
                Some(function),
                "{path}: table"
            );
            let routed = most_specific(in_aws.iter().copied(), &concrete);
            assert_eq!(routed, Some(function), "{path}: template.yaml");
        }
    }

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let dev = std::fs::read_to_string(root.join("scripts/dev.sh")).unwrap();
    let probes = dev
        .split_once("PROBES=(")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(list, _)| list.split_whitespace().collect::<Vec<_>>())
        .expect("scripts/dev.sh lists its PROBES");
    let mut probed: Vec<&str> = probes
        .iter()
        .map(|probe| routes::function_for(probe).unwrap_or("none"))
        .collect();
    probed.sort_unstable();
    assert_eq!(probed, functions, "one probe per function: {probes:?}");
}

/// `inventory` → `Inventory`, as the template names the function's resource.
fn capitalized(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
