"""A third-party OAuth 2.0 / OpenID Connect client: Python authlib (Debian's python3-authlib).

Driven by test/peers/authlib.test.ts: prints the authorization URL as one JSON line, reads
the callback URL the browser reached from stdin, then redeems the code (PKCE), validates
the id_token with authlib's jose against /jwks, refreshes, introspects, revokes, and uses
the password and client_credentials grants. Prints what it saw as one JSON line.
"""
import json
import os
import sys

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken

issuer = os.environ['ISSUER']
meta = requests.get(issuer + '/.well-known/openid-configuration', timeout=10).json()
assert meta['issuer'] == issuer
out = {}

web = OAuth2Session(os.environ['WEB_ID'], os.environ['WEB_SECRET'], scope='openid profile offline_access',
                    redirect_uri=os.environ['REDIRECT_URI'], code_challenge_method='S256')
verifier = generate_token(48)
nonce = generate_token(16)
url, state = web.create_authorization_url(meta['authorization_endpoint'], code_verifier=verifier, nonce=nonce, prompt='consent')
print(json.dumps({'url': url}), flush=True)
callback = sys.stdin.readline().strip()

token = web.fetch_token(meta['token_endpoint'], authorization_response=callback, code_verifier=verifier, state=state)
keys = JsonWebKey.import_key_set(requests.get(meta['jwks_uri'], timeout=10).json())
claims = jwt.decode(token['id_token'], keys, claims_cls=CodeIDToken,
                    claims_options={'iss': {'essential': True, 'value': issuer}, 'aud': {'essential': True, 'value': os.environ['WEB_ID']}},
                    claims_params={'nonce': nonce, 'access_token': token['access_token']})
claims.validate()
out['id_token'] = dict(claims)

refreshed = web.refresh_token(meta['token_endpoint'], refresh_token=token['refresh_token'])
out['rotated'] = refreshed['refresh_token'] != token['refresh_token']
out['introspected'] = web.introspect_token(meta['introspection_endpoint'], token=refreshed['access_token']).json()
out['revoke_status'] = web.revoke_token(meta['revocation_endpoint'], token=refreshed['access_token']).status_code
out['after_revoke'] = web.introspect_token(meta['introspection_endpoint'], token=refreshed['access_token']).json()

device = OAuth2Session(os.environ['PASSWORD_ID'], os.environ['PASSWORD_SECRET'], scope='openid')
password_token = device.fetch_token(meta['token_endpoint'], grant_type='password',
                                    username=os.environ['USERNAME'], password=os.environ['PASSWORD'])
out['password_grant'] = web.introspect_token(meta['introspection_endpoint'], token=password_token['access_token']).json()

service = OAuth2Session(os.environ['SERVICE_ID'], os.environ['SERVICE_SECRET'], scope='reports')
app_token = service.fetch_token(meta['token_endpoint'], grant_type='client_credentials')
out['client_credentials'] = web.introspect_token(meta['introspection_endpoint'], token=app_token['access_token']).json()

print(json.dumps(out), flush=True)
