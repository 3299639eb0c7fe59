using System.Buffers;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using RelayAppliance.Protocol.Smtp;
using RelayAppliance.Server.Logging;

namespace RelayAppliance.Server.Smtp;

/// <summary>AUTH PLAIN and LOGIN (RFC 4954, RFC 4616); passwords live only in a cleared session buffer.</summary>
internal sealed partial class SmtpSession
{
    private Next HandleAuth(ReadOnlySpan<byte> arguments)
    {
        if (!AuthOffered)
        {
            return Error(SmtpReplies.EncryptionRequiredForAuth);
        }
        if (_authUser is not null)
        {
            return Error(SmtpReplies.AlreadyAuthenticated); // RFC 4954 §4: one successful AUTH per session
        }
        if (SmtpCommandParser.TryParseAuth(arguments, out var mechanism, out var initialRange) != SmtpArgumentError.None)
        {
            return Error(SmtpReplies.SyntaxErrorInArguments);
        }
        var initial = arguments[initialRange];
        switch (mechanism)
        {
            case AuthMechanism.Plain when initial.IsEmpty:
                _authStep = AuthStep.PlainResponse;
                return Reply(SmtpReplies.AuthPlainChallenge);
            case AuthMechanism.Plain:
                return CheckPlain(initial);
            case AuthMechanism.Login when initial.IsEmpty:
                _authStep = AuthStep.LoginUser;
                return Reply(SmtpReplies.AuthLoginUsername);
            case AuthMechanism.Login:
                return TakeLoginUser(initial);
            default:
                return Error(SmtpReplies.UnrecognizedAuthMechanism);
        }
    }

    private Next HandleAuthResponse(ReadOnlySpan<byte> line)
    {
        var step = _authStep;
        _authStep = AuthStep.None;
        if (line.SequenceEqual("*"u8))
        {
            return Error(SmtpReplies.AuthCancelled);
        }
        return step switch
        {
            AuthStep.PlainResponse => CheckPlain(line),
            AuthStep.LoginUser => TakeLoginUser(line),
            _ => TakeLoginPassword(line),
        };
    }

    // RFC 4616: [authzid] NUL authcid NUL passwd; we only allow acting as oneself.
    private Next CheckPlain(ReadOnlySpan<byte> base64)
    {
        Span<byte> decoded = stackalloc byte[768];
        if (!TryDecode(base64, decoded, out var length))
        {
            return Error(SmtpReplies.CannotDecodeResponse);
        }
        var message = decoded[..length];
        var first = message.IndexOf((byte)0);
        var second = first < 0 ? -1 : message[(first + 1)..].IndexOf((byte)0);
        if (second < 0)
        {
            CryptographicOperations.ZeroMemory(decoded);
            return Error(SmtpReplies.CannotDecodeResponse);
        }
        var authzid = message[..first];
        var authcid = message.Slice(first + 1, second);
        var password = message[(first + second + 2)..];
        if (!authzid.IsEmpty && !authzid.SequenceEqual(authcid) || password.Length > AuthPassword.Length)
        {
            CryptographicOperations.ZeroMemory(decoded);
            return Error(SmtpReplies.AuthFailed);
        }
        _authCandidate = Encoding.UTF8.GetString(authcid);
        password.CopyTo(AuthPassword);
        _authPasswordLength = password.Length;
        CryptographicOperations.ZeroMemory(decoded);
        return Next.VerifyAuth;
    }

    private Next TakeLoginUser(ReadOnlySpan<byte> base64)
    {
        Span<byte> decoded = stackalloc byte[512];
        if (!TryDecode(base64, decoded, out var length))
        {
            return Error(SmtpReplies.CannotDecodeResponse);
        }
        _authCandidate = Encoding.UTF8.GetString(decoded[..length]);
        _authStep = AuthStep.LoginPassword;
        return Reply(SmtpReplies.AuthLoginPassword);
    }

    private Next TakeLoginPassword(ReadOnlySpan<byte> base64)
    {
        if (!TryDecode(base64, AuthPassword, out _authPasswordLength))
        {
            return Error(SmtpReplies.CannotDecodeResponse);
        }
        return Next.VerifyAuth;
    }

    private byte[] AuthPassword => _authPassword ??= new byte[256];

    private static bool TryDecode(ReadOnlySpan<byte> base64, Span<byte> destination, out int length)
    {
        length = 0;
        if (base64.SequenceEqual("="u8))
        {
            return true; // RFC 4954 §4: "=" is an empty initial response
        }
        return Base64.DecodeFromUtf8(base64, destination, out _, out length) == System.Buffers.OperationStatus.Done;
    }

    /// <summary>PBKDF2 is deliberately slow: run it off the I/O path.</summary>
    private async Task VerifyAuthAsync()
    {
        var user = _authCandidate;
        var ok = await Task.Run(() => _server.Users.Verify(user, AuthPassword.AsSpan(0, _authPasswordLength))).ConfigureAwait(false);
        CryptographicOperations.ZeroMemory(AuthPassword);
        _authPasswordLength = 0;
        if (!ok)
        {
            Log.AuthFailed(_server.Logger, _client, user);
            _ = Error(SmtpReplies.AuthFailed);
            return;
        }
        Log.AuthSucceeded(_server.Logger, _client, user);
        _authUser = user;
        _envelope.SetSession(_client, _helo, _authUser, _tls is not null);
        _writer.Write(SmtpReplies.AuthSucceeded);
    }
}
