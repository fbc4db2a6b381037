// The key under which the front server remembers, for a few seconds, that the backend allowed a caller to
// read a study's frames (ADR 0006): a SHA-256 digest of the caller's credential (the nginx cache writes its
// keys into its files: never the credential itself) and the study UID from the original request. Empty
// when the request carries no bearer credential: then nothing is remembered (session cookies included).
var crypto = require('crypto');

function grantKey(r) {
    var credential = r.headersIn['Authorization'] || '';
    var uri = r.variables.request_uri || '';
    var query = uri.indexOf('?') >= 0 ? uri.slice(uri.indexOf('?') + 1) : '';
    if (!credential) {
        query.split('&').forEach(function (pair) {
            if (pair.indexOf('token=') === 0) {
                credential = decodeURIComponent(pair.slice(6).replace(/\+/g, ' '));
            }
        });
    }
    var study = uri.match(/^\/dicom-web\/studies\/([0-9.]{1,64})\//);
    if (!credential || !study) {
        return '';
    }
    return crypto.createHash('sha256').update(credential).digest('hex') + ':' + study[1];
}

export default {grantKey};
