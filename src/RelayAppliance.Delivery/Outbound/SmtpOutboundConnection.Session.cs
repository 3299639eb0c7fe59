using System.Buffers;
using System.Buffers.Text;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Text;

namespace RelayAppliance.Delivery.Outbound;

/// <summary>Session setup: greeting, EHLO/HELO, STARTTLS (RFC 3207) and AUTH (RFC 4954).</summary>
public sealed partial class SmtpOutboundConnection
{
    private async Task OpenSessionAsync(TlsPolicy tls, SmtpCredentials? credentials, CancellationToken cancellationToken)
    {
        // RFC 5321 §4.2 / §3.1: the greeting may be multi-line; a 554 (or anything but 2xx) means "no service here".
        var greeting = await ReadReplyAsync(_options.GreetingTimeout, cancellationToken).ConfigureAwait(false);
        if (greeting.Code is < 200 or >= 300)
        {
            Refuse($"{_remoteHostName} refused the session", greeting);
        }

        await HelloAsync(cancellationToken).ConfigureAwait(false);
        if (tls != TlsPolicy.None)
        {
            await StartTlsAsync(tls, cancellationToken).ConfigureAwait(false);
        }
        if (credentials is not null)
        {
            // Credentials never travel in plaintext unless the policy is explicitly None (e.g. a loopback smarthost).
            if (!_tls && tls != TlsPolicy.None)
            {
                Refuse($"{_remoteHostName} did not negotiate TLS; not sending credentials in plaintext");
            }
            await AuthenticateAsync(credentials, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>RFC 5321 §4.1.1.1 EHLO; §3.2: a server that rejects EHLO with 5xx gets HELO.</summary>
    private async Task HelloAsync(CancellationToken cancellationToken)
    {
        WriteCommand("EHLO " + _options.HeloName);
        await FlushAsync(_options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        var (code, lines) = await ReadReplyLinesAsync(_options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        if (code is >= 200 and < 300)
        {
            _capabilities = ServerCapabilities.Parse(lines);
            return;
        }
        var ehlo = ToReply(code, lines);
        if (code < 500 || _tls)
        {
            Refuse($"{_remoteHostName} rejected EHLO", ehlo);
        }

        WriteCommand("HELO " + _options.HeloName);
        await FlushAsync(_options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        var helo = await ReadReplyAsync(_options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        if (helo.Code is < 200 or >= 300)
        {
            Refuse($"{_remoteHostName} rejected HELO", helo);
        }
        _capabilities = ServerCapabilities.None;
    }

    /// <summary>
    /// RFC 3207. Opportunistic: only when offered; a 4xx/5xx to STARTTLS continues in plaintext, but a failed handshake
    /// leaves the connection unusable, so it throws and the caller may retry (another MX, or this one without TLS).
    /// Required: not offered, refused or failed all throw.
    /// </summary>
    private async Task StartTlsAsync(TlsPolicy policy, CancellationToken cancellationToken)
    {
        if (!_capabilities.StartTls)
        {
            if (policy == TlsPolicy.Required)
            {
                Refuse($"{_remoteHostName} does not offer STARTTLS, which the policy requires");
            }
            return;
        }

        WriteCommand("STARTTLS");
        await FlushAsync(_options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        var reply = await ReadReplyAsync(_options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        if (reply.Code != 220)
        {
            if (policy == TlsPolicy.Required)
            {
                Refuse($"{_remoteHostName} refused STARTTLS, which the policy requires", reply);
            }
            return;
        }
        if (_bufferedAfterReply)
        {
            // RFC 3207 §4.2 / CVE-2011-0411 style injection: nothing may precede the handshake.
            Fail("Data after the STARTTLS reply before the TLS handshake");
        }

        await _reader.CompleteAsync().ConfigureAwait(false);
        await _writer.CompleteAsync().ConfigureAwait(false);
        var ssl = new SslStream(_stream, leaveInnerStreamOpen: false);
        _stream = ssl;
        var validate = _options.ValidateCertificate;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.CommandTimeout);
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = _remoteHostName,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                // Opportunistic TLS cannot authenticate an MX host without DANE or MTA-STS: accept any certificate
                // unless the caller supplies a check.
                RemoteCertificateValidationCallback = (_, certificate, chain, errors) => validate?.Invoke(certificate, chain, errors) ?? true,
            }, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AuthenticationException || IsTransportFailure(e, cancellationToken))
        {
            Fail($"TLS handshake failed: {Describe(e)}", inner: e);
        }
        catch (OperationCanceledException)
        {
            _broken = true;
            throw;
        }

        _tls = true;
        (_reader, _writer) = CreatePipes(ssl);
        // RFC 3207 §4.2: discard what we learnt before the handshake and ask again.
        _capabilities = ServerCapabilities.None;
        await HelloAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>RFC 4954: AUTH PLAIN (RFC 4616) with an initial response, else AUTH LOGIN; 235 or the session fails.</summary>
    private async Task AuthenticateAsync(SmtpCredentials credentials, CancellationToken cancellationToken)
    {
        SmtpReply reply;
        if (_capabilities.AuthPlain)
        {
            // RFC 4616 §2: message = [authzid] NUL authcid NUL passwd.
            var secret = Encoding.UTF8.GetBytes("\0" + credentials.UserName + "\0" + credentials.Password);
            try
            {
                reply = await SendSecretAsync("AUTH PLAIN ", secret, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(secret);
            }
        }
        else if (_capabilities.AuthLogin)
        {
            WriteCommand("AUTH LOGIN");
            await FlushAsync(_options.CommandTimeout, cancellationToken).ConfigureAwait(false);
            reply = await ReadReplyAsync(_options.CommandTimeout, cancellationToken).ConfigureAwait(false);
            if (reply.Code == 334)
            {
                reply = await SendSecretAsync("", Encoding.UTF8.GetBytes(credentials.UserName), cancellationToken).ConfigureAwait(false);
            }
            if (reply.Code == 334)
            {
                var password = Encoding.UTF8.GetBytes(credentials.Password);
                try
                {
                    reply = await SendSecretAsync("", password, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(password);
                }
            }
        }
        else
        {
            Refuse($"{_remoteHostName} offers neither AUTH PLAIN nor AUTH LOGIN");
            return;
        }

        if (reply.Code != 235)
        {
            Refuse($"{_remoteHostName} rejected our credentials", reply);
        }
    }

    private async ValueTask<SmtpReply> SendSecretAsync(string prefix, byte[] secret, CancellationToken cancellationToken)
    {
        var encoded = new byte[Encoding.ASCII.GetByteCount(prefix) + (((secret.Length + 2) / 3) * 4) + 2];
        try
        {
            var written = Encoding.ASCII.GetBytes(prefix, encoded);
            Base64.EncodeToUtf8(secret, encoded.AsSpan(written), out _, out var base64);
            written += base64;
            encoded[written++] = (byte)'\r';
            encoded[written++] = (byte)'\n';
            _writer.Write(encoded.AsSpan(0, written));
            await FlushAsync(_options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(encoded);
        }
        return await ReadReplyAsync(_options.CommandTimeout, cancellationToken).ConfigureAwait(false);
    }
}
