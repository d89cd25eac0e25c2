//! The SAM template expanded as CloudFormation would: lint-clean, keys and names kept, the
//! schedules retried.

use super::*;

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
    assert_eq!(schedules.len(), 6);
    for (name, schedule) in schedules {
        let properties = &schedule["Properties"];
        let sub = properties["Name"]["Fn::Sub"].as_str().unwrap_or_default();
        assert!(sub.starts_with("${AWS::StackName}-"), "{name}: {sub}");
        let target = &properties["Target"];
        assert_eq!(target["DeadLetterConfig"]["Arn"], dead_letters, "{name}");
        assert_eq!(target["RetryPolicy"]["MaximumRetryAttempts"], 3, "{name}");
    }
    // Asynchronous invocations (the scheduler's, the files bucket's of the thumbnail function):
    // retried, then kept in a dead-letter queue of their own.
    let invoke = of_type("AWS::Lambda::EventInvokeConfig");
    assert_eq!(invoke.len(), 2);
    for (function, queue) in [
        ("SchedulerFunction", "SchedulerDeadLetterQueue"),
        ("ThumbnailsFunction", "ThumbnailsDeadLetterQueue"),
    ] {
        let (_, config) = invoke
            .iter()
            .find(|(_, c)| c["Properties"]["FunctionName"]["Ref"] == function)
            .unwrap_or_else(|| panic!("{function} has no invoke config"));
        let properties = &config["Properties"];
        assert_eq!(properties["MaximumRetryAttempts"], 2, "{function}");
        assert_eq!(
            properties["DestinationConfig"]["OnFailure"]["Destination"],
            serde_json::json!({"Fn::GetAtt": [queue, "Arn"]}),
            "{function}"
        );
    }
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
        "ThumbnailsDeadLetterAlarm",
    ] {
        let properties = &resources[alarm]["Properties"];
        assert!(
            properties["AlarmActions"]["Fn::If"][1][0]
                == serde_json::json!({"Ref": "AlarmTopicArn"}),
            "{alarm}: {properties}"
        );
        if let Some(metrics) = properties["Metrics"].as_array() {
            // One metric per function, and the expression over them.
            let functions = of_type("AWS::Lambda::Function").len();
            assert_eq!(metrics.len(), functions + 1, "{alarm}");
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
    // Writing to a bucket: the dashboard to the exports, the storage functions to tenants'
    // prefixes of the files bucket (see `the_files_bucket_is_private_and_reached_by_prefix`).
    for (name, role) in of_type("AWS::IAM::Role") {
        let policies = role.to_string();
        match name.as_str() {
            "DashboardFunctionRole" => {}
            "StorageFunctionRole" => assert!(
                policies.contains("${FilesBucket.Arn}/org/*") && !policies.contains("Export"),
                "{policies}"
            ),
            "ThumbnailsFunctionRole" => assert!(
                policies.contains("s3:::stockroom-files-${StackUuid}/org/*")
                    && !policies.contains("Export"),
                "{policies}"
            ),
            _ => assert!(!policies.contains("s3:PutObject"), "{name}"),
        }
    }
    let database = resources["DatabaseSecret"]["Properties"]["SecretString"].to_string();
    assert!(database.contains("${DatabaseUrl}"), "{database}");
    // Every function but migrate waits for the migrations, so new code goes live only after the
    // schema it needs (and a failed migration stops the deploy before any function changes).
    let functions = of_type("AWS::Lambda::Function");
    // One per function crate.
    let crates = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../functions"))
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|e| e.path().join("Cargo.toml").exists())
        })
        .count();
    assert_eq!(functions.len(), crates);
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

/// Events: committed writes announce on a queue whose failures go to a dead-letter queue with
/// an alarm; the dispatcher consumes it with reserved concurrency and reports failed items;
/// endpoints disabled raise an alarm; the WebSocket API sends its three routes to the realtime
/// function, answers messages, throttles and logs; only the dispatcher and the scheduler may
/// manage its connections, of this API's stage; no function may deliver to local addresses.
#[test]
fn the_expanded_template_carries_events_to_webhooks_and_realtime() {
    use serde_json::json;
    let template = expanded();
    let resources = template["Resources"].as_object().unwrap();

    let queue = &resources["EventsQueue"]["Properties"];
    assert_eq!(
        queue["RedrivePolicy"]["deadLetterTargetArn"],
        json!({"Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"]})
    );
    let alarm = &resources["EventsDeadLetterAlarm"]["Properties"];
    assert_eq!(
        alarm["Dimensions"][0]["Value"],
        json!({"Fn::GetAtt": ["EventsDeadLetterQueue", "QueueName"]})
    );
    assert_eq!(
        alarm["AlarmActions"]["Fn::If"][1][0],
        json!({"Ref": "AlarmTopicArn"})
    );
    assert_eq!(
        resources["WebhookEndpointsDisabledAlarm"]["Properties"]["MetricName"],
        "WebhookEndpointsDisabled"
    );
    for filter in ["SchedulerEndpointsDisabled", "DispatcherEndpointsDisabled"] {
        assert_eq!(
            resources[filter]["Properties"]["MetricTransformations"][0]["MetricName"],
            "WebhookEndpointsDisabled"
        );
    }

    let dispatcher = &resources["DispatcherFunction"]["Properties"];
    assert_eq!(
        dispatcher["ReservedConcurrentExecutions"],
        json!({"Ref": "DispatcherReservedConcurrency"})
    );
    let mapping = resources
        .values()
        .find(|r| {
            r["Type"] == "AWS::Lambda::EventSourceMapping"
                && r["Properties"]["FunctionName"] == json!({"Ref": "DispatcherFunction"})
        })
        .expect("the dispatcher consumes the events queue");
    assert_eq!(
        mapping["Properties"]["EventSourceArn"],
        json!({"Fn::GetAtt": ["EventsQueue", "Arn"]})
    );
    assert_eq!(
        mapping["Properties"]["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );

    // The WebSocket API and its routes, all to the realtime function.
    let api = &resources["RealtimeApi"]["Properties"];
    assert_eq!(api["ProtocolType"], "WEBSOCKET");
    let integration = &resources["RealtimeIntegration"]["Properties"];
    assert_eq!(integration["IntegrationType"], "AWS_PROXY");
    assert!(
        integration["IntegrationUri"]
            .to_string()
            .contains("${RealtimeFunction.Arn}"),
        "{integration}"
    );
    let mut routes: Vec<&str> = resources
        .values()
        .filter(|r| r["Type"] == "AWS::ApiGatewayV2::Route")
        .map(|r| {
            assert_eq!(
                r["Properties"]["Target"],
                json!({"Fn::Sub": "integrations/${RealtimeIntegration}"})
            );
            r["Properties"]["RouteKey"].as_str().unwrap()
        })
        .collect();
    routes.sort_unstable();
    assert_eq!(routes, ["$connect", "$default", "$disconnect"]);
    // A message's answer goes back to its client.
    assert_eq!(
        resources["RealtimeDefaultRoute"]["Properties"]["RouteResponseSelectionExpression"],
        "$default"
    );
    assert_eq!(
        resources["RealtimeDefaultRouteResponse"]["Properties"]["RouteId"],
        json!({"Ref": "RealtimeDefaultRoute"})
    );
    let stage = &resources["RealtimeStage"]["Properties"];
    assert_eq!(stage["DeploymentId"], json!({"Ref": "RealtimeDeployment"}));
    assert!(stage["DefaultRouteSettings"]["ThrottlingRateLimit"].is_number());
    assert_eq!(
        stage["AccessLogSettings"]["DestinationArn"],
        json!({"Fn::GetAtt": ["RealtimeAccessLogGroup", "Arn"]})
    );
    let deployment = resources["RealtimeDeployment"]["DependsOn"].to_string();
    for route in [
        "RealtimeConnectRoute",
        "RealtimeDisconnectRoute",
        "RealtimeDefaultRoute",
    ] {
        assert!(deployment.contains(route), "{deployment}");
    }
    let permission = &resources["RealtimeInvokePermission"]["Properties"];
    assert_eq!(permission["Principal"], "apigateway.amazonaws.com");
    assert_eq!(
        permission["FunctionName"],
        json!({"Ref": "RealtimeFunction"})
    );

    // Who manages connections, and where pushes go.
    let manage =
        resources["ManageRealtimeConnectionsPolicy"]["Properties"]["PolicyDocument"].to_string();
    assert!(
        manage.contains("execute-api:ManageConnections")
            && manage.contains("${RealtimeApi}/${RealtimeStage}/*/@connections/*"),
        "{manage}"
    );
    let endpoint = json!({"Fn::Sub": "https://${RealtimeApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${RealtimeStage}"});
    for (name, role) in resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::IAM::Role")
    {
        let manages = role.to_string().contains("ManageRealtimeConnectionsPolicy");
        let expected = matches!(
            name.as_str(),
            "DispatcherFunctionRole" | "SchedulerFunctionRole"
        );
        assert_eq!(manages, expected, "{name}");
    }
    for function in ["DispatcherFunction", "SchedulerFunction"] {
        assert_eq!(
            resources[function]["Properties"]["Environment"]["Variables"]["REALTIME_ENDPOINT"],
            endpoint,
            "{function}"
        );
    }
    assert!(!template.to_string().contains("WEBHOOK_ALLOW_LOCAL_TARGETS"));
    assert_eq!(
        template["Outputs"]["RealtimeUrl"]["Value"],
        json!({"Fn::Sub": "wss://${RealtimeApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${RealtimeStage}"})
    );
}
