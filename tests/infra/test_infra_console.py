"""Given the synthesized stack, the operator console is private where it holds files, strict in what
the browser may load, admits only admin-created users, checks a Cognito JWT on every API route,
answers CORS for its own origin only, and `console: false` deploys none of it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infra_cfn import as_list, only, render, resources_of, statements

from humwatch.contracts import (
    CONSOLE_API_ROUTES,
    CONSOLE_OPERATORS,
    CONSOLE_VIEWERS,
    ENV_BUCKET,
    ENV_CONSOLE_ORIGIN,
    ENV_CONSOLE_URL,
    ENV_TABLE,
    StackOutput,
)

# The `synth_with` fixture of tests/infra/conftest.py: synth_with(**context) -> (stack, template)
SynthWith = Callable[..., tuple[Any, dict[str, Any]]]

CONSOLE_OUTPUTS = {
    StackOutput.CONSOLE_URL,
    StackOutput.CONSOLE_API_URL,
    StackOutput.CONSOLE_USER_POOL_ID,
    StackOutput.CONSOLE_USER_POOL_CLIENT_ID,
}


def _id(stack: Any, construct: Any) -> str:
    return str(stack.get_logical_id(construct.node.default_child))


def _resource(synthesized: Any, construct: Any) -> dict[str, Any]:
    resource: dict[str, Any] = synthesized.template["Resources"][_id(synthesized.stack, construct)]
    return resource


def _console_origin(synthesized: Any) -> dict[str, Any]:
    """The distribution's https URL as the template writes it (a deploy-time value)."""
    distribution = _id(synthesized.stack, synthesized.stack.console.site.distribution)
    return {"Fn::Join": ["", ["https://", {"Fn::GetAtt": [distribution, "DomainName"]}]]}


def _csp(synthesized: Any) -> dict[str, str]:
    """The Content-Security-Policy of the site's headers policy: {directive: sources}."""
    policy = _resource(synthesized, synthesized.stack.console.site.headers)["Properties"]
    header = policy["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]["ContentSecurityPolicy"]
    assert header["Override"] is True
    directives = (d.strip().split(" ", 1) for d in render(header["ContentSecurityPolicy"]).split(";"))
    return {name: sources for name, sources in directives}


def test_site_bucket_is_private_ssl_only_encrypted_and_logs_access(synthesized: Any) -> None:
    # Given the console's site bucket
    stack = synthesized.stack
    props = _resource(synthesized, stack.console.site.bucket)["Properties"]

    # Then public access is blocked, ACLs are off, SSE-S3 encrypts, and access is logged to the
    # stack's access-log bucket under its own prefix
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rules == [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    assert props["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": _id(stack, stack.storage.access_logs)},
        "LogFilePrefix": "console-site/",
    }


def test_only_this_distribution_may_read_the_site_bucket_through_origin_access_control(
    synthesized: Any,
) -> None:
    # Given the site bucket's policy and the distribution
    stack = synthesized.stack
    bucket_id = _id(stack, stack.console.site.bucket)
    distribution_id = _id(stack, stack.console.site.distribution)
    _, policy = only(
        synthesized.template, "AWS::S3::BucketPolicy", lambda p: p["Bucket"] == {"Ref": bucket_id}
    )
    policy_statements = statements(policy["Properties"]["PolicyDocument"])

    # Then requests without TLS are denied to everyone
    deny = [s for s in policy_statements if s["Effect"] == "Deny"]
    assert [s["Condition"] for s in deny] == [{"Bool": {"aws:SecureTransport": "false"}}]
    # And the one Allow is GetObject for CloudFront, on behalf of this distribution only: no public
    # principal, no origin access identity
    (allow,) = [s for s in policy_statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert as_list(allow["Action"]) == ["s3:GetObject"]
    distribution_arn = f"arn:<AWS::Partition>:cloudfront::<AWS::AccountId>:distribution/<{distribution_id}>"
    assert allow["Condition"] == {"StringEquals": {"AWS:SourceArn": distribution_arn}}
    assert not resources_of(synthesized.template, "AWS::CloudFront::CloudFrontOriginAccessIdentity")
    # And the distribution's only origin signs its requests with origin access control
    config = _resource(synthesized, stack.console.site.distribution)["Properties"]["DistributionConfig"]
    (origin,) = config["Origins"]
    assert origin["DomainName"] == {"Fn::GetAtt": [bucket_id, "RegionalDomainName"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    oac_id, oac = only(synthesized.template, "AWS::CloudFront::OriginAccessControl")
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": [oac_id, "Id"]}
    assert oac["Properties"]["OriginAccessControlConfig"]["SigningBehavior"] == "always"


def test_distribution_serves_index_over_https_only_with_the_security_headers(synthesized: Any) -> None:
    site = synthesized.stack.console.site
    config = _resource(synthesized, site.distribution)["Properties"]["DistributionConfig"]
    assert config["DefaultRootObject"] == "index.html"
    behavior = config["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["AllowedMethods"] == ["GET", "HEAD"]
    assert behavior["ResponseHeadersPolicyId"] == {"Ref": _id(synthesized.stack, site.headers)}
    assert "AdditionalCacheBehaviors" not in config

    headers = _resource(synthesized, site.headers)["Properties"]["ResponseHeadersPolicyConfig"]
    security = headers["SecurityHeadersConfig"]
    assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 365 * 24 * 3600
    assert security["StrictTransportSecurity"]["Override"] is True
    assert security["ContentTypeOptions"] == {"Override": True}
    assert security["FrameOptions"] == {"FrameOption": "DENY", "Override": True}
    assert security["ReferrerPolicy"] == {"ReferrerPolicy": "no-referrer", "Override": True}


def test_content_security_policy_allows_only_the_console_its_api_cognito_and_clip_audio(
    synthesized: Any,
) -> None:
    # Given the CSP the distribution sends with every file
    stack = synthesized.stack
    csp = _csp(synthesized)

    # Then scripts, styles and everything else come from the console's own origin only: no inline
    # code, no eval, no third-party host, no framing
    assert csp["default-src"] == csp["script-src"] == csp["style-src"] == "'self'"
    assert csp["img-src"] == "'self' data:"
    assert csp["frame-ancestors"] == csp["base-uri"] == csp["object-src"] == "'none'"
    assert csp["form-action"] == "'self'"
    policy = " ".join(csp.values())
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert not {"*", "https:", "http:", "data:"} & set(
        " ".join(v for k, v in csp.items() if k != "img-src").split()
    )
    # And audio plays only from the clips bucket's regional host (the presigned GETs)
    assert csp["media-src"] == f"https://<{_id(stack, stack.storage.bucket)}.RegionalDomainName>"
    # And the page may call the region's API Gateway hosts and Cognito, nothing else
    assert csp["connect-src"].split() == [
        "'self'",
        "https://*.execute-api.<AWS::Region>.<AWS::URLSuffix>",
        "https://cognito-idp.<AWS::Region>.<AWS::URLSuffix>",
    ]


def test_user_pool_admits_only_admin_created_users_with_strong_passwords_and_is_kept(
    synthesized: Any,
) -> None:
    # Given the console's user pool
    pool = _resource(synthesized, synthesized.stack.console.auth.user_pool)
    props = pool["Properties"]

    # Then nobody signs up: an administrator creates each user (an invitation email)
    assert props["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert "{####}" in props["AdminCreateUserConfig"]["InviteMessageTemplate"]["EmailMessage"]
    # And passwords are 12+ characters of every class; TOTP is available, SMS is not
    assert props["Policies"]["PasswordPolicy"] == {
        "MinimumLength": 12,
        "RequireLowercase": True,
        "RequireNumbers": True,
        "RequireSymbols": True,
        "RequireUppercase": True,
        "TemporaryPasswordValidityDays": 3,
    }
    assert (props["MfaConfiguration"], props["EnabledMfas"]) == ("OPTIONAL", ["SOFTWARE_TOKEN_MFA"])
    assert props["AccountRecoverySetting"] == {
        "RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]
    }
    # And a destroy or a replacement keeps the people's accounts
    assert pool["DeletionPolicy"] == pool["UpdateReplacePolicy"] == "Retain"
    assert props["DeletionProtection"] == "ACTIVE"


def test_two_groups_viewers_and_operators_in_the_pool(synthesized: Any) -> None:
    pool_ref = {"Ref": _id(synthesized.stack, synthesized.stack.console.auth.user_pool)}
    groups = resources_of(synthesized.template, "AWS::Cognito::UserPoolGroup").values()
    assert {g["Properties"]["GroupName"] for g in groups} == {CONSOLE_VIEWERS, CONSOLE_OPERATORS}
    assert all(g["Properties"]["UserPoolId"] == pool_ref for g in groups)


def test_app_client_is_public_signs_in_by_password_or_srp_and_issues_one_hour_tokens(
    synthesized: Any,
) -> None:
    _, client = only(synthesized.template, "AWS::Cognito::UserPoolClient")
    props = client["Properties"]
    assert props["GenerateSecret"] is False
    assert {"ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH"} <= set(props["ExplicitAuthFlows"])
    assert "ALLOW_ADMIN_USER_PASSWORD_AUTH" not in props["ExplicitAuthFlows"]
    assert (props["IdTokenValidity"], props["TokenValidityUnits"]["IdToken"]) == (60, "minutes")
    assert props["PreventUserExistenceErrors"] == "ENABLED"
    assert props["AllowedOAuthFlowsUserPoolClient"] is False


def test_every_route_requires_the_cognito_jwt(synthesized: Any) -> None:
    # Given the console API's routes and its one authorizer
    stack = synthesized.stack
    auth = stack.console.auth
    api_ref = {"Ref": _id(stack, stack.console.api.api)}
    authorizer_id, authorizer = only(synthesized.template, "AWS::ApiGatewayV2::Authorizer")
    routes = [
        r["Properties"] for r in resources_of(synthesized.template, "AWS::ApiGatewayV2::Route").values()
    ]

    # Then the routes are exactly the contract's, none is a catch-all
    assert sorted(r["RouteKey"] for r in routes) == sorted(CONSOLE_API_ROUTES)
    assert len(routes) == len(CONSOLE_API_ROUTES) == 11
    # And each one checks the JWT before the function runs
    for route in routes:
        assert route["ApiId"] == api_ref
        assert route["AuthorizationType"] == "JWT", route["RouteKey"]
        assert route["AuthorizerId"] == {"Ref": authorizer_id}, route["RouteKey"]
    # And the JWT is the console client's token from this user pool
    props = authorizer["Properties"]
    assert props["AuthorizerType"] == "JWT"
    assert props["IdentitySource"] == ["$request.header.Authorization"]
    assert props["JwtConfiguration"] == {
        "Issuer": {"Fn::GetAtt": [_id(stack, auth.user_pool), "ProviderURL"]},
        "Audience": [{"Ref": _id(stack, auth.client)}],
    }


def test_cors_allows_only_the_console_origin_and_the_function_knows_it(synthesized: Any) -> None:
    # Given the API's CORS configuration
    stack = synthesized.stack
    cors = _resource(synthesized, stack.console.api.api)["Properties"]["CorsConfiguration"]

    # Then exactly one origin is allowed: the distribution's https URL (known at deploy time)
    assert cors["AllowOrigins"] == [_console_origin(synthesized)]
    assert "*" not in str(cors["AllowOrigins"])
    assert cors["AllowMethods"] == ["GET", "POST", "OPTIONS"]
    assert cors["AllowHeaders"] == ["authorization", "content-type"]
    assert cors["AllowCredentials"] is False
    # And console_api answers for the same origin; process_clip links alerts to the same site
    functions = resources_of(synthesized.template, "AWS::Lambda::Function")
    console_env = functions[_id(stack, stack.console.function.function)]["Properties"]["Environment"][
        "Variables"
    ]
    assert console_env[ENV_CONSOLE_ORIGIN] == _console_origin(synthesized)
    process_env = functions[_id(stack, stack.process_clip.function)]["Properties"]["Environment"]["Variables"]
    assert process_env[ENV_CONSOLE_URL] == _console_origin(synthesized)


def test_stage_is_throttled_and_logs_every_request(synthesized: Any) -> None:
    stack = synthesized.stack
    api = stack.console.api
    _, stage = only(synthesized.template, "AWS::ApiGatewayV2::Stage")
    props = stage["Properties"]
    assert props["StageName"] == "$default" and props["AutoDeploy"] is True
    assert props["DefaultRouteSettings"] == {"ThrottlingBurstLimit": 20, "ThrottlingRateLimit": 10}
    logs = props["AccessLogSettings"]
    assert logs["DestinationArn"] == {"Fn::GetAtt": [_id(stack, api.access_logs), "Arn"]}
    for variable in ("$context.routeKey", "$context.status", "$context.authorizer.claims.sub"):
        assert variable in logs["Format"]
    retention = _resource(synthesized, api.access_logs)["Properties"]["RetentionInDays"]
    assert retention == synthesized.stack.settings.log_retention_days


def test_console_api_runs_with_the_layers_its_resources_and_the_short_audio_links(synthesized: Any) -> None:
    stack = synthesized.stack
    props = _resource(synthesized, stack.console.function.function)["Properties"]
    assert props["Runtime"] == "python3.12" and props["Handler"] == "handler.handler"
    assert props["Layers"] == [
        {"Ref": _id(stack, stack.layers.deps)},
        {"Ref": _id(stack, stack.layers.humwatch)},
    ]
    assert props["MemorySize"] == stack.settings.console_api_memory_mb
    assert props["Timeout"] < 30  # API Gateway stops waiting for an integration at 30 s
    variables = props["Environment"]["Variables"]
    assert variables[ENV_BUCKET] == {"Ref": _id(stack, stack.storage.bucket)}
    assert variables[ENV_TABLE] == {"Ref": _id(stack, stack.history.table)}
    assert variables["HUMWATCH_AUDIO_URL_EXPIRY_S"] == "300"


def test_console_api_may_do_exactly_what_the_console_needs(synthesized: Any) -> None:
    # Given console_api's role
    stack = synthesized.stack
    fn = stack.console.function
    role = {"Ref": _id(stack, fn.role)}
    grants = {
        (action, resource)
        for policy in resources_of(synthesized.template, "AWS::IAM::Policy").values()
        if role in policy["Properties"]["Roles"]
        for st in statements(policy["Properties"]["PolicyDocument"])
        if st["Effect"] == "Allow"
        for action in as_list(st["Action"])
        for resource in as_list(st["Resource"])
    }
    bucket = f"<{_id(stack, stack.storage.bucket)}.Arn>"
    table = f"<{_id(stack, stack.history.table)}.Arn>"
    logs = f"<{_id(stack, fn.log_group)}.Arn>"
    table_actions = {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"}

    # Then it reads clips (it signs the audio GETs) and models, lists the bucket, reads and writes
    # history items, writes its logs: nothing else (no Scan, no delete, no PutObject, no publish)
    assert grants == (
        {
            ("s3:GetObject", f"{bucket}/clips/*"),
            ("s3:GetObject", f"{bucket}/models/*"),
            ("s3:ListBucket", bucket),
        }
        | {(a, r) for a in table_actions for r in (table, f"{table}/index/anomalies-by-day")}
        | {("logs:CreateLogStream", logs), ("logs:PutLogEvents", logs)}
    )


def test_site_gets_the_console_files_and_a_config_naming_the_api_and_client(synthesized: Any) -> None:
    # Given the deploy-time copy into the site bucket
    stack = synthesized.stack
    console = stack.console
    _, deployment = only(synthesized.template, "Custom::CDKBucketDeployment")
    props = deployment["Properties"]

    # Then it writes the site bucket, prunes removed files and invalidates the distribution
    assert props["DestinationBucketName"] == {"Ref": _id(stack, console.site.bucket)}
    assert props["Prune"] is True
    assert props["DistributionId"] == {"Ref": _id(stack, console.site.distribution)}
    # And config.json gets the API's URL (no trailing slash) and the app client at deploy time
    markers = {k: render(v) for source in props["SourceMarkers"] for k, v in source.items()}
    api_id = _id(stack, console.api.api)
    assert set(markers.values()) == {
        f'"https://<{api_id}>.execute-api.<AWS::Region>.<AWS::URLSuffix>"',
        '"<AWS::Region>"',
        f'"<{_id(stack, console.auth.client)}>"',
    }


def test_the_file_copy_may_touch_only_its_asset_and_the_site(synthesized: Any) -> None:
    # Given the role aws-cdk-lib writes for its deploy-time file copy (wildcard actions: CDK's)
    stack = synthesized.stack
    site = f"<{_id(stack, stack.console.site.bucket)}.Arn>"
    (policy,) = [
        p["Properties"]
        for p in resources_of(synthesized.template, "AWS::IAM::Policy").values()
        if p["Properties"]["Roles"][0]["Ref"].startswith("CustomCDKBucketDeployment")
    ]
    by_resource: dict[str, set[str]] = {}
    for st in statements(policy["PolicyDocument"]):
        for resource in as_list(st["Resource"]):
            by_resource.setdefault(resource, set()).update(as_list(st["Action"]))

    # Then it reads the CDK assets bucket, writes the site bucket, and invalidates: nothing else
    assets = "arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}"
    assert set(by_resource) == {assets, f"{assets}/*", site, f"{site}/*", "*"}
    assert all(not a.startswith(("s3:Put", "s3:Delete")) for a in by_resource[f"{assets}/*"])
    assert by_resource["*"] == {"cloudfront:CreateInvalidation", "cloudfront:GetInvalidation"}


def test_outputs_name_the_console_its_api_and_its_user_pool(synthesized: Any) -> None:
    stack = synthesized.stack
    outputs = synthesized.template["Outputs"]
    assert set(outputs) >= CONSOLE_OUTPUTS
    assert outputs[StackOutput.CONSOLE_URL]["Value"] == _console_origin(synthesized)
    assert outputs[StackOutput.CONSOLE_USER_POOL_ID]["Value"] == {
        "Ref": _id(stack, stack.console.auth.user_pool)
    }
    assert outputs[StackOutput.CONSOLE_USER_POOL_CLIENT_ID]["Value"] == {
        "Ref": _id(stack, stack.console.auth.client)
    }
    api_url = render(outputs[StackOutput.CONSOLE_API_URL]["Value"])
    assert (
        api_url == f"https://<{_id(stack, stack.console.api.api)}>.execute-api.<AWS::Region>.<AWS::URLSuffix>"
    )


def test_console_false_deploys_none_of_it(synth_with: SynthWith) -> None:
    # Given the stack synthesized with the console turned off (cdk-nag runs in the synth too)
    stack, template = synth_with(console=False)

    # Then there is no user pool, API, distribution, site bucket, file copy or console function
    types = {r["Type"] for r in template["Resources"].values()}
    assert not {
        t for t in types if t.startswith(("AWS::Cognito::", "AWS::ApiGatewayV2::", "AWS::CloudFront::"))
    }
    assert "Custom::CDKBucketDeployment" not in types
    assert len(resources_of(template, "AWS::S3::Bucket")) == 2
    assert stack.console is None
    assert not any(logical_id.startswith("Console") for logical_id in template["Resources"])
    # And no console output, and alerts carry no console link
    assert not CONSOLE_OUTPUTS & set(template["Outputs"])
    process = resources_of(template, "AWS::Lambda::Function")[_id(stack, stack.process_clip.function)]
    assert ENV_CONSOLE_URL not in process["Properties"]["Environment"]["Variables"]
