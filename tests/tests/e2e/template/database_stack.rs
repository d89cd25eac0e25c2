//! The database stack: what production needs, and each function reading only its own login.

use super::*;

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
