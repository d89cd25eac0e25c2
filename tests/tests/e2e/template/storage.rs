//! Storage in the expanded template: the files bucket is private, encrypted, unversioned, open
//! to the frontend's origins for uploads and downloads, expires what was never completed, and
//! invokes the thumbnail function for each upload's file; every role reaches it only under the
//! tenants' prefix.

use super::expanded;

#[test]
fn the_files_bucket_is_private_and_reached_by_prefix() {
    let template = expanded();
    let resources = template["Resources"].as_object().unwrap();
    let bucket = &resources["FilesBucket"];
    assert_eq!(bucket["DeletionPolicy"], "Retain");
    let properties = &bucket["Properties"];
    assert_eq!(
        properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
            ["SSEAlgorithm"],
        "AES256"
    );
    let block = &properties["PublicAccessBlockConfiguration"];
    for setting in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(block[setting], true, "{setting}");
    }
    assert!(
        properties.get("VersioningConfiguration").is_none(),
        "versioning stays off"
    );
    // Named after the stack's id, as the functions name it.
    let name = properties["BucketName"]["Fn::Sub"][0].as_str().unwrap();
    assert_eq!(name, "stockroom-files-${StackUuid}");
    let storage_env = &resources["StorageFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(storage_env["FILES_BUCKET"]["Fn::Sub"][0], name);

    // Uploads never completed still carry the pending tag, and expire.
    let rules = properties["LifecycleConfiguration"]["Rules"]
        .as_array()
        .unwrap();
    let pending = rules
        .iter()
        .find(|r| r["Id"] == "UploadsNeverCompleted")
        .expect("the pending uploads' rule");
    assert_eq!(
        pending["TagFilters"][0]["Key"],
        shared::storage::bucket::PENDING_TAG.0
    );
    assert_eq!(
        pending["TagFilters"][0]["Value"],
        shared::storage::bucket::PENDING_TAG.1
    );
    assert_eq!(pending["ExpirationInDays"], 1);
    // Browsers POST the form and GET the links from the frontend's origins.
    let cors = &properties["CorsConfiguration"]["CorsRules"][0];
    assert_eq!(cors["AllowedMethods"], serde_json::json!(["GET", "POST"]));
    assert_eq!(
        cors["AllowedOrigins"],
        serde_json::json!({"Fn::Split": [",", {"Ref": "CorsAllowedOrigins"}]})
    );
    // Every new upload's file invokes the thumbnail function.
    let lambda = &properties["NotificationConfiguration"]["LambdaConfigurations"][0];
    assert_eq!(lambda["Event"], "s3:ObjectCreated:*");
    assert_eq!(
        lambda["Filter"]["S3Key"]["Rules"][0],
        serde_json::json!({"Name": "suffix", "Value": "/original"})
    );
    assert_eq!(
        lambda["Function"],
        serde_json::json!({"Fn::GetAtt": ["ThumbnailsFunction", "Arn"]})
    );

    // Who reaches the files bucket, and how: only under org/ (the tenants' prefixes).
    let expected = [
        (
            "StorageFunctionRole",
            &["s3:PutObject", "s3:GetObject", "s3:DeleteObject"][..],
        ),
        (
            "ThumbnailsFunctionRole",
            &["s3:GetObject", "s3:PutObject"][..],
        ),
        ("SchedulerFunctionRole", &["s3:DeleteObject"][..]),
        ("LinkFilesPolicy", &["s3:GetObject", "s3:DeleteObject"][..]),
    ];
    for (name, resource) in resources {
        let text = resource.to_string();
        let touches = text.contains("FilesBucket.Arn") || text.contains("s3:::stockroom-files-");
        if !touches || name == "FilesBucket" || resource["Type"] == "AWS::Lambda::Function" {
            continue;
        }
        let Some((_, actions)) = expected.iter().find(|(n, _)| *n == name.as_str()) else {
            // Roles that only attach LinkFilesPolicy name it, not the bucket.
            assert!(
                resource["Type"] == "AWS::Lambda::Permission",
                "{name} reaches the files bucket: {text}"
            );
            continue;
        };
        for action in *actions {
            assert!(text.contains(action), "{name} lacks {action}");
        }
        assert!(!text.contains("\"s3:*\""), "{name}");
        for statement in text.split("Resource").skip(1) {
            if statement.contains("FilesBucket") || statement.contains("stockroom-files-") {
                assert!(statement.contains("/org/*"), "{name}: {statement}");
            }
        }
    }
    // The functions that answer links and remove attachments hold the policy.
    for function in ["Products", "Suppliers", "Inventory", "Tasks"] {
        let role = format!("{function}FunctionRole");
        let policies = resources[&role]["Properties"]["ManagedPolicyArns"].to_string();
        assert!(policies.contains("LinkFilesPolicy"), "{role}: {policies}");
    }
}
