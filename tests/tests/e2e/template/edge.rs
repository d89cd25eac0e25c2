//! The API's edge: WAF and throttling limit each client.

use super::*;

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
    // No per-route buckets, and HTTP is served by the REST API only (the WebSocket API is
    // API Gateway v2's, throttled stage-wide).
    assert!(
        !resources
            .values()
            .any(|r| r["Properties"].get("RouteSettings").is_some())
    );
    assert!(
        resources
            .values()
            .filter(|r| r["Type"] == "AWS::ApiGatewayV2::Api")
            .all(|r| r["Properties"]["ProtocolType"] == "WEBSOCKET")
    );

    // Every path has its preflight answered by a mock from the allowed-origins list, and a
    // Lambda proxy integration; every HTTP function may be invoked by this API.
    let paths = body["paths"].as_object().unwrap();
    assert_eq!(paths.len(), 38);
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
                // The WebSocket API's own (the realtime function) aside.
                && !r["Properties"]["SourceArn"]
                    .to_string()
                    .contains("RealtimeApi")
        })
        .count();
    assert_eq!(permissions, 11);

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
