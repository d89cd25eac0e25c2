//! The SAM template and the database stack pass cfn-lint, informational checks included (the
//! SAM transform runs first), and expand to what production needs.

use std::path::Path;
use std::process::Command;

#[test]
fn template_passes_cfn_lint() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let output = Command::new("cfn-lint")
        .args([
            "--include-checks",
            "I",
            "--",
            "template.yaml",
            "database.yaml",
        ])
        .current_dir(root)
        .output()
        .expect("cfn-lint not found: `pip install cfn-lint` (make test does it)");
    assert!(
        output.status.success(),
        "cfn-lint found problems:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The template as `sam deploy` submits it, expanded offline by the SAM translator
/// (`scripts/expand-template.py`, in the project's virtualenv).
fn expanded() -> serde_json::Value {
    expanded_from("template.yaml")
}

fn expanded_from(template: &str) -> serde_json::Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let output = Command::new("python")
        .args(["scripts/expand-template.py", template])
        .current_dir(root)
        .output()
        .expect("python not found: make test puts the project's virtualenv first on PATH");
    assert!(
        output.status.success(),
        "the SAM translator refused the template:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Expanded: each schedule is named after its stack (two stages can share an account and
/// region), retries, and sends what failed for good to the dead-letter queue, as does the
/// scheduler function's own asynchronous retry; the queue has an alarm; the keys secret is
/// retained; every function waits for the migrations and logs to a group with a retention.
#[test]
fn the_expanded_template_keeps_keys_and_names_and_retries_the_schedules() {
    let template = expanded();
    let resources = template["Resources"].as_object().unwrap();
    let of_type = |kind: &str| {
        resources
            .iter()
            .filter(|(_, r)| r["Type"] == kind)
            .collect::<Vec<_>>()
    };
    let dead_letters = serde_json::json!({"Fn::GetAtt": ["SchedulerDeadLetterQueue", "Arn"]});
    let schedules = of_type("AWS::Scheduler::Schedule");
    assert_eq!(schedules.len(), 4);
    for (name, schedule) in schedules {
        let properties = &schedule["Properties"];
        let sub = properties["Name"]["Fn::Sub"].as_str().unwrap_or_default();
        assert!(sub.starts_with("${AWS::StackName}-"), "{name}: {sub}");
        let target = &properties["Target"];
        assert_eq!(target["DeadLetterConfig"]["Arn"], dead_letters, "{name}");
        assert_eq!(target["RetryPolicy"]["MaximumRetryAttempts"], 3, "{name}");
    }
    let invoke = of_type("AWS::Lambda::EventInvokeConfig");
    assert_eq!(invoke.len(), 1);
    assert_eq!(
        invoke[0].1["Properties"]["DestinationConfig"]["OnFailure"]["Destination"],
        dead_letters
    );
    let alarm = &resources["SchedulerDeadLetterAlarm"]["Properties"];
    assert_eq!(alarm["MetricName"], "ApproximateNumberOfMessagesVisible");
    // Alarms on every function's errors, throttles and p99 duration, the API's 5xx and the
    // dead letters, all to AlarmTopicArn.
    for alarm in [
        "FunctionErrorsAlarm",
        "FunctionThrottlesAlarm",
        "FunctionDurationAlarm",
        "Api5xxAlarm",
        "SchedulerDeadLetterAlarm",
    ] {
        let properties = &resources[alarm]["Properties"];
        assert!(
            properties["AlarmActions"]["Fn::If"][1][0]
                == serde_json::json!({"Ref": "AlarmTopicArn"}),
            "{alarm}: {properties}"
        );
        if let Some(metrics) = properties["Metrics"].as_array() {
            // One metric per function, and the expression over them.
            assert_eq!(metrics.len(), 12, "{alarm}");
        }
    }
    // API access logs, and no tracing claim without spans.
    let stage = &resources["Apiv1Stage"]["Properties"];
    assert_eq!(
        stage["AccessLogSetting"]["DestinationArn"],
        serde_json::json!({"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]})
    );
    // A prod stack with the localhost defaults is refused by CloudFormation itself.
    let rule = &template["Rules"]["ProductionHasItsOwnAddresses"];
    assert_eq!(
        rule["Assertions"].as_array().map(Vec::len),
        Some(3),
        "{rule}"
    );
    // The key that sealed data depends on is generated once: kept when the stack is deleted or
    // the resource replaced, and built from no parameter (only its name takes the stage), so no
    // parameter change regenerates it. The settings added by hand are never rewritten by
    // CloudFormation; the DatabaseUrl parameter rewrites only the database secret.
    let keys = &resources["KeysSecret"];
    assert_eq!(keys["DeletionPolicy"], "Retain");
    assert_eq!(keys["UpdateReplacePolicy"], "Retain");
    let generated = &keys["Properties"]["GenerateSecretString"];
    assert_eq!(generated["SecretStringTemplate"], "{}");
    assert!(
        !generated.to_string().contains("Ref") && !generated.to_string().contains("Fn::"),
        "{generated}"
    );
    assert_eq!(
        resources["SettingsSecret"]["Properties"]["SecretString"],
        "{}"
    );
    // The keys rotate on a schedule through the migrate function, which may rewrite that one
    // secret (and no other) and which Secrets Manager may invoke.
    let rotation = &resources["KeysRotation"];
    assert_eq!(rotation["Condition"], "RotateKeys");
    let keys_arn = serde_json::json!({"Fn::If": ["CreateKeysSecret", {"Ref": "KeysSecret"}, {"Ref": "ExistingKeysSecretArn"}]});
    assert_eq!(rotation["Properties"]["SecretId"], keys_arn);
    assert_eq!(
        rotation["Properties"]["RotationLambdaARN"],
        serde_json::json!({"Fn::GetAtt": ["MigrateFunction", "Arn"]})
    );
    assert_eq!(
        rotation["Properties"]["RotationRules"]["ScheduleExpression"],
        serde_json::json!({"Fn::Sub": "rate(${KeyRotationDays} days)"})
    );
    assert_eq!(
        resources["KeysRotationPermission"]["Properties"]["Principal"],
        "secretsmanager.amazonaws.com"
    );
    let migrate_policies = resources["MigrateFunctionRole"]["Properties"]["Policies"].to_string();
    assert!(
        migrate_policies.contains("secretsmanager:PutSecretValue"),
        "{migrate_policies}"
    );
    assert!(
        migrate_policies.contains(&keys_arn.to_string()),
        "{migrate_policies}"
    );
    for (name, role) in of_type("AWS::IAM::Role") {
        if name.as_str() != "MigrateFunctionRole" {
            assert!(!role.to_string().contains("PutSecretValue"), "{name}");
        }
    }
    // Large exports go to a private bucket that forgets them after a day; only the dashboard
    // may write there, and only under exports/.
    let bucket = &resources["ExportBucket"]["Properties"];
    assert_eq!(
        bucket["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"],
        true
    );
    let rule = &bucket["LifecycleConfiguration"]["Rules"][0];
    assert_eq!(
        (rule["Prefix"].as_str(), rule["ExpirationInDays"].as_i64()),
        (Some("exports/"), Some(1))
    );
    let dashboard = &resources["DashboardFunction"]["Properties"];
    assert_eq!(
        dashboard["Environment"]["Variables"]["EXPORT_BUCKET"],
        serde_json::json!({"Ref": "ExportBucket"})
    );
    let dashboard_policies =
        resources["DashboardFunctionRole"]["Properties"]["Policies"].to_string();
    assert!(
        dashboard_policies.contains("s3:PutObject")
            && dashboard_policies.contains("${ExportBucket.Arn}/exports/*"),
        "{dashboard_policies}"
    );
    for (name, role) in of_type("AWS::IAM::Role") {
        if name.as_str() != "DashboardFunctionRole" {
            assert!(!role.to_string().contains("s3:PutObject"), "{name}");
        }
    }
    let database = resources["DatabaseSecret"]["Properties"]["SecretString"].to_string();
    assert!(database.contains("${DatabaseUrl}"), "{database}");
    // Every function but migrate waits for the migrations, so new code goes live only after the
    // schema it needs (and a failed migration stops the deploy before any function changes).
    let functions = of_type("AWS::Lambda::Function");
    assert_eq!(functions.len(), 11);
    for (name, function) in functions {
        if name.as_str() != "MigrateFunction" {
            assert_eq!(function["DependsOn"], "Migrations", "{name}");
        }
        assert!(
            function["Properties"].get("TracingConfig").is_none(),
            "{name} claims tracing"
        );
        assert_eq!(
            function["Properties"]["LoggingConfig"]["LogFormat"], "JSON",
            "{name}"
        );
        // Its logs go to a group of its own that keeps them LogRetentionDays.
        let group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} logs to Lambda's default group"));
        assert_eq!(resources[group]["Type"], "AWS::Logs::LogGroup", "{name}");
        assert_eq!(
            resources[group]["Properties"]["RetentionInDays"],
            serde_json::json!({"Ref": "LogRetentionDays"}),
            "{name}"
        );
    }
}

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

/// The database stack: private subnets in two zones, Aurora PostgreSQL Serverless v2 with an
/// RDS-managed master password, RDS Proxy requiring TLS with a login per role, the endpoints
/// and the NAT; the database reachable only from the proxy and the functions; every output the
/// main template imports exported under the stack's name.
#[test]
fn the_database_stack_has_what_production_needs() {
    let template = expanded_from("database.yaml");
    let resources = template["Resources"].as_object().unwrap();
    let of_type = |kind: &str| {
        resources
            .iter()
            .filter(|(_, r)| r["Type"] == kind)
            .map(|(name, r)| (name.as_str(), r))
            .collect::<Vec<_>>()
    };
    let zones: Vec<String> = of_type("AWS::EC2::Subnet")
        .iter()
        .filter(|(name, _)| name.starts_with("Private"))
        .map(|(_, subnet)| subnet["Properties"]["AvailabilityZone"].to_string())
        .collect();
    assert_eq!(zones.len(), 2);
    assert_ne!(zones[0], zones[1], "two zones");

    let cluster = &resources["Cluster"];
    assert_eq!(cluster["DeletionPolicy"], "Snapshot");
    assert_eq!(cluster["UpdateReplacePolicy"], "Snapshot");
    let properties = &cluster["Properties"];
    assert_eq!(properties["Engine"], "aurora-postgresql");
    assert_eq!(properties["ManageMasterUserPassword"], true);
    assert_eq!(properties["StorageEncrypted"], true);
    assert!(properties.get("MasterUserPassword").is_none());
    assert!(properties["ServerlessV2ScalingConfiguration"].is_object());
    let version = template["Parameters"]["EngineVersion"]["Default"]
        .as_str()
        .unwrap();
    let major: u32 = version.split('.').next().unwrap().parse().unwrap();
    assert!(major >= 16, "a current major: {version}");
    assert_eq!(
        resources["ClusterParameters"]["Properties"]["Parameters"]["rds.force_ssl"],
        "1"
    );
    assert_eq!(
        resources["Writer"]["Properties"]["DBInstanceClass"],
        "db.serverless"
    );

    let proxy = &resources["Proxy"]["Properties"];
    assert_eq!(proxy["RequireTLS"], true);
    assert_eq!(proxy["EngineFamily"], "POSTGRESQL");
    let auth = proxy["Auth"].as_array().unwrap();
    assert_eq!(auth.len(), 4, "the master and the three login roles");
    for login in ["TenantLoginSecret", "AuthLoginSecret", "WorkerLoginSecret"] {
        assert!(
            auth.iter()
                .any(|a| a["SecretArn"] == serde_json::json!({"Ref": login})),
            "{login}"
        );
        let generated = &resources[login]["Properties"]["GenerateSecretString"];
        assert_eq!(generated["GenerateStringKey"], "password");
        assert!(
            generated["SecretStringTemplate"]
                .as_str()
                .unwrap()
                .contains("\"username\": \"stockroom_")
        );
    }

    let endpoints = of_type("AWS::EC2::VPCEndpoint");
    let kinds: Vec<(String, String)> = endpoints
        .iter()
        .map(|(_, e)| {
            (
                e["Properties"]["ServiceName"]["Fn::Sub"]
                    .as_str()
                    .unwrap()
                    .rsplit('.')
                    .next()
                    .unwrap()
                    .to_owned(),
                e["Properties"]["VpcEndpointType"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("secretsmanager".into(), "Interface".into())),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("s3".into(), "Gateway".into())),
        "{kinds:?}"
    );
    assert_eq!(
        resources["PrivateDefaultRoute"]["Properties"]["NatGatewayId"],
        serde_json::json!({"Ref": "NatGateway"}),
        "Wise and SMTP through the NAT gateway"
    );

    // The database takes connections from the proxy and the functions (migrate) only.
    let ingress = resources["DatabaseSecurityGroup"]["Properties"]["SecurityGroupIngress"]
        .as_array()
        .unwrap();
    let sources: Vec<&serde_json::Value> = ingress
        .iter()
        .map(|rule| &rule["SourceSecurityGroupId"])
        .collect();
    assert_eq!(
        sources,
        [
            &serde_json::json!({"Ref": "ProxySecurityGroup"}),
            &serde_json::json!({"Ref": "FunctionSecurityGroup"})
        ]
    );
    assert!(!ingress.iter().any(|rule| rule.get("CidrIp").is_some()));

    // Every export the main template imports exists.
    let main = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .join("template.yaml"),
    )
    .unwrap();
    let outputs = template["Outputs"].as_object().unwrap();
    let mut imported = 0;
    for part in main.split("${DatabaseStack}-").skip(1) {
        let name: String = part
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        let output = outputs
            .get(&name)
            .unwrap_or_else(|| panic!("the main template imports {name}"));
        assert_eq!(
            output["Export"]["Name"],
            serde_json::json!({"Fn::Sub": format!("${{AWS::StackName}}-{name}")})
        );
        imported += 1;
    }
    assert!(imported >= 8, "{imported}");
}

/// The main template with the database stack: the functions run in its subnets, each reads only
/// its own login's secret, and a stack without any database is refused.
#[test]
fn with_the_database_stack_each_function_reads_only_its_own_login() {
    let template = expanded();
    let resources = template["Resources"].as_object().unwrap();
    let rule = template["Rules"]["SomeDatabase"].to_string();
    assert!(
        rule.contains("DatabaseUrl") && rule.contains("DatabaseStack"),
        "{rule}"
    );
    let logins = [
        ("Health", "TENANT", "TenantLoginReadPolicy"),
        ("Products", "TENANT", "TenantLoginReadPolicy"),
        ("Dashboard", "TENANT", "TenantLoginReadPolicy"),
        ("Auth", "AUTH", "AuthLoginReadPolicy"),
        ("Webhooks", "WORKER", "WorkerLoginReadPolicy"),
        ("Scheduler", "WORKER", "WorkerLoginReadPolicy"),
        ("Migrate", "MIGRATE", "MigrateLoginReadPolicy"),
    ];
    for (function, login, policy) in logins {
        let variables =
            resources[&format!("{function}Function")]["Properties"]["Environment"]["Variables"]
                .as_object()
                .unwrap();
        let secrets: Vec<&String> = variables
            .keys()
            .filter(|k| k.ends_with("DATABASE_SECRET_ID"))
            .collect();
        if login == "MIGRATE" {
            assert_eq!(secrets.len(), 5, "{function}: {secrets:?}");
        } else {
            assert_eq!(
                secrets,
                [&format!("{login}_DATABASE_SECRET_ID")],
                "{function}"
            );
        }
        let managed =
            resources[&format!("{function}FunctionRole")]["Properties"]["ManagedPolicyArns"]
                .to_string();
        assert!(managed.contains(policy), "{function}: {managed}");
        for other in [
            "TenantLoginReadPolicy",
            "AuthLoginReadPolicy",
            "WorkerLoginReadPolicy",
            "MigrateLoginReadPolicy",
        ] {
            assert!(
                other == policy || !managed.contains(other),
                "{function} reads {other}"
            );
        }
        let vpc = resources[&format!("{function}Function")]["Properties"]["VpcConfig"].to_string();
        assert!(
            vpc.contains("${DatabaseStack}-SubnetIds"),
            "{function}: {vpc}"
        );
    }
    // With a database of your own as well: each login's secret is one the template generates,
    // read by its functions only, and the owner's login (the database secret, from DatabaseUrl)
    // is migrate's alone, in what it reads and in what it may read.
    for (login, secret) in [
        ("TenantLoginReadPolicy", "TenantLoginSecret"),
        ("AuthLoginReadPolicy", "AuthLoginSecret"),
        ("WorkerLoginReadPolicy", "WorkerLoginSecret"),
    ] {
        let policy = resources[login].to_string();
        assert!(
            policy.contains(&format!("{{\"Ref\":\"{secret}\"}}")),
            "{login}: {policy}"
        );
        assert_eq!(resources[secret]["Condition"], "OwnDatabase");
    }
    assert!(
        !resources["ReadSettingsPolicy"]
            .to_string()
            .contains("DatabaseSecret")
    );
    let owner = "{\"Ref\":\"DatabaseSecret\"}";
    for (name, resource) in resources {
        let text = resource.to_string();
        let migrate = name.starts_with("Migrate");
        if !migrate
            && (name.ends_with("Function") || name.ends_with("Role") || name.ends_with("Policy"))
        {
            assert!(!text.contains(owner), "{name} reads the owner's login");
        }
    }
    let migrate = resources["MigrateFunction"]["Properties"]["Environment"]["Variables"]
        ["SETTINGS_SECRET_ID"]
        .to_string();
    assert!(migrate.contains(owner), "{migrate}");
    // What an operator typed in is kept when the stack goes.
    for kept in ["SettingsSecret", "KeysSecret"] {
        assert_eq!(resources[kept]["DeletionPolicy"], "Retain", "{kept}");
        assert_eq!(resources[kept]["UpdateReplacePolicy"], "Retain", "{kept}");
    }
}

/// The REST API in front of the functions: AWS WAF limits each client address (100 requests a
/// minute over the API, a flood guard on the sign-in routes) and answers 429 problem+json with
/// Retry-After; API Gateway answers every preflight itself from the allowed origins and its own
/// errors as problem+json with the security and CORS headers; the stage throttle is a capacity
/// backstop; no route-level bucket shared by every caller is left.
#[test]
fn the_api_limits_each_client_at_the_edge() {
    let template = expanded();
    let resources = template["Resources"].as_object().unwrap();
    let acl = &resources["WebAcl"];
    assert_eq!(acl["Condition"], "UseWaf");
    let acl = &acl["Properties"];
    assert_eq!(acl["Scope"], "REGIONAL");
    let rules = acl["Rules"].as_array().unwrap();
    let rule = |name: &str| {
        rules
            .iter()
            .find(|r| r["Name"] == name)
            .unwrap_or_else(|| panic!("rule {name}"))
    };
    let per_client = &rule("PerClient")["Statement"]["RateBasedStatement"];
    assert_eq!(
        per_client["Limit"],
        serde_json::json!({"Ref": "ApiLimitPerClient"})
    );
    assert_eq!(template["Parameters"]["ApiLimitPerClient"]["Default"], 100);
    assert_eq!(per_client["EvaluationWindowSec"], 60);
    assert_eq!(per_client["AggregateKeyType"], "IP");
    assert!(
        per_client.get("ScopeDownStatement").is_none(),
        "the whole API"
    );
    let sign_in = &rule("SignInFlood")["Statement"]["RateBasedStatement"];
    assert_eq!(sign_in["AggregateKeyType"], "IP");
    assert_eq!(sign_in["EvaluationWindowSec"], 300);
    assert_eq!(
        template["Parameters"]["SignInLimitPerClient"]["Default"],
        100
    );
    let statements = sign_in["ScopeDownStatement"]["OrStatement"]["Statements"]
        .as_array()
        .unwrap();
    let paths: Vec<&str> = statements
        .iter()
        .map(|s| s["ByteMatchStatement"]["SearchString"].as_str().unwrap())
        .collect();
    // Each path is matched as the function will see it: decoded (`%6Cogin` is `login`), with
    // `//` and `/./` collapsed, in lower case.
    for statement in statements {
        let transformations: Vec<&str> = statement["ByteMatchStatement"]["TextTransformations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["Type"].as_str().unwrap())
            .collect();
        assert_eq!(
            transformations,
            ["URL_DECODE", "NORMALIZE_PATH", "LOWERCASE"]
        );
    }
    for route in [
        "/api/auth/login",
        "/api/auth/register",
        "/api/auth/password/",
        "/api/auth/invitation/accept",
    ] {
        assert!(paths.contains(&route), "{route} in {paths:?}");
    }
    assert!(
        !paths
            .iter()
            .any(|p| p.contains("refresh") || p.contains("/me")),
        "{paths:?}"
    );
    for name in ["PerClient", "SignInFlood"] {
        let response = &rule(name)["Action"]["Block"]["CustomResponse"];
        assert_eq!(response["ResponseCode"], 429, "{name}");
        let body_key = response["CustomResponseBodyKey"].as_str().unwrap();
        let body = &acl["CustomResponseBodies"][body_key];
        assert_eq!(body["ContentType"], "APPLICATION_JSON");
        let problem: serde_json::Value =
            serde_json::from_str(body["Content"].as_str().unwrap()).unwrap();
        assert_eq!(problem["status"], 429);
        let headers = response["ResponseHeaders"].to_string();
        for header in [
            "Retry-After",
            "X-Content-Type-Options",
            "Strict-Transport-Security",
            "Access-Control-Allow-Origin",
        ] {
            assert!(headers.contains(header), "{name}: {header}");
        }
    }
    for group in [
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesAmazonIpReputationList",
    ] {
        assert!(
            rules
                .iter()
                .any(|r| r["Statement"]["ManagedRuleGroupStatement"]["Name"] == group),
            "{group}"
        );
    }
    assert!(
        resources["WebAclAssociation"]["Properties"]["ResourceArn"]
            .to_string()
            .contains("/restapis/${Api}/stages/"),
    );
    let logging = &resources["WafLogging"]["Properties"];
    assert!(
        logging["LogDestinationConfigs"]
            .to_string()
            .contains("${WafLogGroup}")
    );
    let waf_logs = &resources["WafLogGroup"]["Properties"];
    assert!(
        waf_logs["LogGroupName"]["Fn::Sub"]
            .as_str()
            .unwrap()
            .starts_with("aws-waf-logs-")
    );
    assert_eq!(
        waf_logs["RetentionInDays"],
        serde_json::json!({"Ref": "LogRetentionDays"})
    );

    // The API: REST, tracing, binary XLSX, a stage throttle from parameters and nothing per route.
    let api = &resources["Api"]["Properties"];
    let body = &api["Body"];
    assert_eq!(
        body["x-amazon-apigateway-binary-media-types"][0],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let stage = &resources["Apiv1Stage"]["Properties"];
    assert_eq!(stage["TracingEnabled"], true);
    let settings = stage["MethodSettings"].as_array().unwrap();
    assert_eq!(settings.len(), 1, "one stage-wide setting, no route bucket");
    assert_eq!(settings[0]["ResourcePath"], "/*");
    assert_eq!(
        settings[0]["ThrottlingRateLimit"],
        serde_json::json!({"Ref": "ApiRateLimit"})
    );
    assert!(!template.to_string().contains("RouteSettings"));
    assert!(
        !resources
            .values()
            .any(|r| r["Type"] == "AWS::ApiGatewayV2::Api")
    );

    // Every path has its preflight answered by a mock from the allowed-origins list, and a
    // Lambda proxy integration; every HTTP function may be invoked by this API.
    let paths = body["paths"].as_object().unwrap();
    assert_eq!(paths.len(), 26);
    for (path, methods) in paths {
        let options = &methods["options"]["x-amazon-apigateway-integration"];
        assert_eq!(options["type"], "mock", "{path}");
        let template =
            options["responses"]["default"]["responseTemplates"]["application/json"].to_string();
        assert!(
            template.contains("${CorsAllowedOrigins}")
                && template.contains("responseOverride.header.Access-Control-Allow-Origin"),
            "{path}"
        );
        let integrations: Vec<&serde_json::Value> = methods
            .as_object()
            .unwrap()
            .iter()
            .filter(|(method, _)| method.as_str() != "options")
            .map(|(_, operation)| &operation["x-amazon-apigateway-integration"])
            .collect();
        assert_eq!(integrations.len(), 1, "{path}");
        assert_eq!(integrations[0]["type"], "aws_proxy", "{path}");
    }
    let permissions = resources
        .values()
        .filter(|r| {
            r["Type"] == "AWS::Lambda::Permission"
                && r["Properties"]["Principal"] == "apigateway.amazonaws.com"
        })
        .count();
    assert_eq!(permissions, 9);

    // API Gateway's own answers: problem+json with the security headers and the allowed origin.
    let responses = &body["x-amazon-apigateway-gateway-responses"];
    for kind in [
        "DEFAULT_4XX",
        "DEFAULT_5XX",
        "THROTTLED",
        "WAF_FILTERED",
        "INTEGRATION_TIMEOUT",
    ] {
        let response = &responses[kind];
        let headers = &response["responseParameters"];
        assert_eq!(
            headers["gatewayresponse.header.Content-Type"], "'application/problem+json'",
            "{kind}"
        );
        // The first allowed origin, as a literal: never whatever origin a page sends.
        let origin = serde_json::json!({"Fn::Sub": ["'${Origin}'", {"Origin":
            {"Fn::Select": [0, {"Fn::Split": [",", {"Ref": "CorsAllowedOrigins"}]}]}}]});
        assert_eq!(
            headers["gatewayresponse.header.Access-Control-Allow-Origin"], origin,
            "{kind}"
        );
        assert_eq!(
            headers["gatewayresponse.header.X-Content-Type-Options"], "'nosniff'",
            "{kind}"
        );
        assert!(
            response["responseTemplates"]["application/json"]
                .as_str()
                .unwrap()
                .contains("\"code\""),
            "{kind}"
        );
    }
    assert_eq!(responses["THROTTLED"]["statusCode"], "429");
    assert_eq!(
        responses["THROTTLED"]["responseParameters"]["gatewayresponse.header.Retry-After"],
        "'1'"
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
