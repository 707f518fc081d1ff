// Runs the npm `qiniu` SDK, unchanged, against the emulator: finds the upload host through
// the region query, uploads one file, prints {"ok", "status", "data", "error"} as JSON.
// Usage: node upload.js '<json>' with mode (form | resume-v1 | resume-v2), ucHost
// (host:port/path of the emulator's /v4/query host), cachePath, token, key, file.
'use strict';
const qiniu = require('qiniu');

const args = JSON.parse(process.argv[2]);
qiniu.conf.QUERY_REGION_HOST = args.ucHost; // also clears the SDK's backup query hosts
const config = new qiniu.conf.Config({ regionsQueryResultCachePath: args.cachePath });

function upload () {
    if (args.mode === 'form') {
        return new qiniu.form_up.FormUploader(config).putFile(args.token, args.key, args.file, null);
    }
    const uploader = new qiniu.resume_up.ResumeUploader(config);
    if (args.mode === 'resume-v1') {
        // putFile without PutExtra: the SDK's default resumable version, v1 (mkblk/mkfile).
        return uploader.putFile(args.token, args.key, args.file, null);
    }
    if (args.mode === 'resume-v2') {
        const extra = new qiniu.resume_up.PutExtra();
        extra.version = 'v2';
        if (args.partSize) extra.partSize = args.partSize;
        return uploader.putFile(args.token, args.key, args.file, extra);
    }
    throw new Error('unknown mode ' + args.mode);
}

upload()
    .then(({ data, resp }) => {
        process.stdout.write(JSON.stringify({ ok: resp.statusCode === 200, status: resp.statusCode, data }));
    })
    .catch(err => {
        const status = err.resp ? err.resp.statusCode : null;
        process.stdout.write(JSON.stringify({ ok: false, status, error: String(err && err.message || err) }));
    });
