"""Sinch's published HMAC test vector (from their SDKs' tests): secret, nonce, timestamp, body."""

VECTOR_SECRET = "foo_secret1234"
VECTOR_NONCE = "01FJA8B4A7BM43YGWSG9GBV067"
VECTOR_TIMESTAMP = "1634579353"
VECTOR_BODY = (
    '{"app_id":"01EB37HMH1M6SV18BSNS3G135H","accepted_time":"2020-11-17T15:09:11.659Z",'
    '"project_id":"c36f3d3d-1513-2edd-ae42-11995557ff61",'
    '"message_delivery_report":{"message_id":"01EQBC1A3BEK731GY4YXEN0C2R",'
    '"conversation_id":"01EPYATA64TMNZ1FV02JKF12JF","status":"QUEUED_ON_CHANNEL",'
    '"contact_id":"01EXA07N79THJ20WSN6AS30TMW"}}'
)
VECTOR_SIGNATURE = "Yc+3R1pIS78xLASybulhs8BsSo9BPB3Pr92QCUoczfk="
