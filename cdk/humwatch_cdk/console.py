"""The operator console: its static site (private bucket behind CloudFront), its users (Cognito) and
its HTTP API (JWT authorizer on every route, one `console_api` function).

The stack builds them in this order: auth, site, API (its CORS origin is the site's URL), content
(the site's `config.json` names the API's URL and the app client).

One edge is left out on purpose: the site's Content-Security-Policy allows `connect-src` to the
region's execute-api hosts, not to this API's own host. The API's CORS configuration names the
distribution's URL, so naming the API's id in the distribution's headers policy would make the two
depend on each other (CloudFormation refuses the cycle); the API's CORS origin is the check that
matters, and scripts are `'self'` only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
import jsii
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from aws_cdk.aws_apigateway import AccessLogFormat
from constructs import Construct

from humwatch.contracts import CONSOLE_API_ROUTES, CONSOLE_OPERATORS, CONSOLE_VIEWERS
from humwatch_cdk.function import REPO_ROOT, HumwatchFunction, log_retention

CONSOLE_DIR = REPO_ROOT / "console"
# A handful of operators: a page loads with a few requests at once. The limits stop a leaked token
# (or a runaway script) from running up the function's bill; they are far above what people click.
API_RATE_LIMIT_PER_S = 10
API_BURST_LIMIT = 20
# Sign-in hands the SPA an id token it keeps in sessionStorage for the browser tab: an hour, then
# the operator signs in again (no refresh token is used by the SPA).
TOKEN_VALIDITY = cdk.Duration.hours(1)
# HTTP API access log variables: who (the token's sub), which route, the outcome, and why an
# authorizer or integration failed; never the token, a body or a query string.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "time": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "latencyMs": "$context.responseLatency",
    "sub": "$context.authorizer.claims.sub",
    "authorizerError": "$context.authorizer.error",
    "integrationError": "$context.integrationErrorMessage",
}


def _https(domain_name: str) -> str:
    return f"https://{domain_name}"


class ConsoleAuth(Construct):
    """Admin-created users only (an invitation email with a temporary password), two groups."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.user_pool = cognito.UserPool(
            self,
            "Users",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(username=True, email=True),
            sign_in_case_sensitive=False,
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)
            ),
            user_invitation=cognito.UserInvitationConfig(
                email_subject="Your humwatch console account",
                email_body=(
                    "An administrator created a humwatch console account for you. User name: {username}, "
                    "temporary password: {####} (you choose your own at the first sign-in)."
                ),
            ),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=cdk.Duration.days(3),
            ),
            # Optional TOTP: a user may add an authenticator app; SMS is off (no SNS role, no cost).
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            # The free tier covers 10,000 monthly users; threat protection needs Plus (nag.py).
            feature_plan=cognito.FeaturePlan.ESSENTIALS,
            # Users, their passwords and group memberships are people's accounts an administrator
            # made by hand: nothing in this repository could recreate them, so a `cdk destroy` (or a
            # replacement) must not delete them; an idle pool costs nothing.
            removal_policy=cdk.RemovalPolicy.RETAIN,
            deletion_protection=True,
        )
        self.groups = {
            name: cognito.CfnUserPoolGroup(
                self,
                f"{name.capitalize()}Group",
                user_pool_id=self.user_pool.user_pool_id,
                group_name=name,
                description=description,
                precedence=precedence,
            )
            for name, description, precedence in (
                (CONSOLE_OPERATORS, "read and listen; label, acknowledge, promote and roll back", 1),
                (CONSOLE_VIEWERS, "read and listen", 2),
            )
        }
        self.client = self.user_pool.add_client(
            "Console",
            # USER_PASSWORD_AUTH is what the SPA calls (InitiateAuth, over TLS); SRP for SDKs and CLIs.
            auth_flows=cognito.AuthFlow(user_password=True, user_srp=True),
            generate_secret=False,  # a browser app cannot keep a secret
            disable_o_auth=True,  # no hosted UI, no redirects: the SPA signs in by the API call only
            id_token_validity=TOKEN_VALIDITY,
            access_token_validity=TOKEN_VALIDITY,
            refresh_token_validity=cdk.Duration.hours(12),
            enable_token_revocation=True,
            prevent_user_existence_errors=True,
        )
        self.issuer = self.user_pool.user_pool_provider_url


class ConsoleSite(Construct):
    """The SPA's private bucket, read only by this distribution (origin access control)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        access_logs: s3.IBucket,
        clips_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.S3_MANAGED,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="console-site/",
            # A copy of the repository's console/ folder: the deployment empties it on destroy
            # (ConsoleContent), so the bucket goes with the stack.
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        region, suffix = cdk.Aws.REGION, cdk.Aws.URL_SUFFIX
        # Audio comes from presigned GET URLs on the clips bucket's regional host; the API and Cognito
        # are the only hosts the SPA calls. No inline script or style, nothing third-party.
        csp = "; ".join(
            (
                "default-src 'self'",
                "script-src 'self'",
                "style-src 'self'",
                "img-src 'self' data:",
                f"media-src {_https(clips_bucket.bucket_regional_domain_name)}",
                f"connect-src 'self' https://*.execute-api.{region}.{suffix} https://cognito-idp.{region}.{suffix}",
                "frame-ancestors 'none'",
                "base-uri 'none'",
                "form-action 'self'",
                "object-src 'none'",
            )
        )
        self.headers = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment="humwatch console: strict CSP, HSTS, no framing, no sniffing, no referrer",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=csp, override=True
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=cdk.Duration.days(730), include_subdomains=True, override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True
                ),
            ),
            custom_headers_behavior=cloudfront.ResponseCustomHeadersBehavior(
                custom_headers=[
                    cloudfront.ResponseCustomHeader(
                        header="Permissions-Policy",
                        value="camera=(), microphone=(), geolocation=(), payment=(), usb=()",
                        override=True,
                    )
                ]
            ),
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="humwatch operator console",
            default_root_object="index.html",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=self.headers,
                compress=True,
            ),
            # North America and Europe edges only: the cheapest class, ample for a few operators.
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
        )
        # The console's origin: what the API's CORS allows and alert emails link to.
        self.url = _https(self.distribution.distribution_domain_name)


class ConsoleApi(Construct):
    """HTTP API: CORS for the console's origin only, the Cognito JWT authorizer on every route,
    throttled, access-logged; every route goes to `console_api`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        console_api: HumwatchFunction,
        allowed_origin: str,
        issuer: str,
        client_id: str,
        log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.authorizer = authorizers.HttpJwtAuthorizer(
            "CognitoJwt",
            issuer,
            jwt_audience=[client_id],
            # The id token: the SPA sends it, and it carries cognito:groups.
            identity_source=["$request.header.Authorization"],
        )
        self.api = apigwv2.HttpApi(
            self,
            "Api",
            api_name=f"{cdk.Aws.STACK_NAME}-console",
            description="humwatch operator console API",
            cors_preflight=apigwv2.CorsPreflightOptions(
                allow_origins=[allowed_origin],
                allow_methods=[
                    apigwv2.CorsHttpMethod.GET,
                    apigwv2.CorsHttpMethod.POST,
                    apigwv2.CorsHttpMethod.OPTIONS,
                ],
                allow_headers=["authorization", "content-type"],
                allow_credentials=False,  # a bearer token, never cookies
                max_age=cdk.Duration.hours(1),
            ),
            default_authorizer=self.authorizer,
            create_default_stage=False,
        )
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=log_retention(log_retention_days),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.stage = apigwv2.HttpStage(
            self,
            "DefaultStage",
            http_api=self.api,
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=API_RATE_LIMIT_PER_S, burst_limit=API_BURST_LIMIT),
            access_log_settings=_AccessLogSettings(self.access_logs),
        )
        integration = integrations.HttpLambdaIntegration("ConsoleApi", console_api.function)
        self.routes: list[apigwv2.HttpRoute] = []
        # Exactly the routes the function serves (humwatch.contracts), each with the default authorizer.
        for route in CONSOLE_API_ROUTES:
            method, path = route.split(" ", 1)
            self.routes += self.api.add_routes(
                path=path, methods=[apigwv2.HttpMethod(method)], integration=integration
            )
        # Without the stage's trailing slash: the SPA appends "/devices" and friends to it.
        self.url = f"https://{self.api.api_id}.execute-api.{cdk.Aws.REGION}.{cdk.Aws.URL_SUFFIX}"


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    """The stage's access log: ACCESS_LOG_FIELDS as one JSON line per request."""

    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._log_group = log_group

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return apigwv2.LogGroupLogDestination(self._log_group)

    @property
    def format(self) -> AccessLogFormat:
        return AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":")))


class ConsoleContent(Construct):
    """Copies console/ into the site bucket, with the `config.json` the SPA reads at start, and
    invalidates the distribution so the new files are served at once."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        site: ConsoleSite,
        api_url: str,
        client_id: str,
        log_retention_days: int,
        console_dir: Path = CONSOLE_DIR,
    ) -> None:
        super().__init__(scope, construct_id)
        config = {
            "apiUrl": api_url,
            "auth": {"type": "cognito", "region": cdk.Aws.REGION, "clientId": client_id},
        }
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=log_retention(log_retention_days),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.deployment = s3deploy.BucketDeployment(
            self,
            "Deploy",
            destination_bucket=site.bucket,
            sources=[
                # A config.json left from local serving must not shadow the deployed one.
                s3deploy.Source.asset(str(console_dir), exclude=["config.json", ".*", "**/.*"]),
                s3deploy.Source.json_data("config.json", config),
            ],
            distribution=site.distribution,
            distribution_paths=["/*"],
            # Files removed from console/ disappear from the site; on destroy the bucket is emptied.
            prune=True,
            retain_on_delete=False,
            log_group=self.log_group,
        )


@dataclass(frozen=True)
class OperatorConsole:
    """What the stack built for the console (None there when cdk.json's `console` is off)."""

    auth: ConsoleAuth
    site: ConsoleSite
    function: HumwatchFunction
    api: ConsoleApi
    content: ConsoleContent
