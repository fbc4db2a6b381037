// The key under which the front server remembers, for a few seconds, that the backend allowed a caller to
// read a study's frames (ADR 0006): a SHA-256 digest of the caller's credential (the nginx cache writes its
// keys into its files: never the credential itself) and the study UID of the path nginx serves ($uri,
// normalised). Empty, so that nothing is remembered, when the request carries no bearer credential (session
// cookies included) or when its raw path differs from the normalised one ("..", "%2e%2e", "%2f", "//"): the
// grant is checked and remembered on exactly the path that is served.
var crypto = require('crypto');

function grantKey(r) {
    var credential = r.headersIn['Authorization'] || '';
    var raw = r.variables.request_uri || '';
    // set by the pixel locations: inside the auth_request subrequest $uri is the subrequest's own
    var served = r.variables.medcloud_served_uri || '';
    var cut = raw.indexOf('?');
    var rawPath = cut >= 0 ? raw.slice(0, cut) : raw;
    var query = cut >= 0 ? raw.slice(cut + 1) : '';
    if (rawPath !== served) {
        return '';
    }
    if (!credential) {
        query.split('&').forEach(function (pair) {
            if (pair.indexOf('token=') === 0) {
                credential = decodeURIComponent(pair.slice(6).replace(/\+/g, ' '));
            }
        });
    }
    var study = served.match(/^\/dicom-web\/studies\/([0-9.]{1,64})\//);
    if (!credential || !study) {
        return '';
    }
    return crypto.createHash('sha256').update(credential).digest('hex') + ':' + study[1];
}

export default {grantKey};
