using RelayAppliance.Delivery.Outbound;

namespace RelayAppliance.Delivery.Tests;

public sealed class SmtpReplyTests
{
    [Theory]
    [InlineData(250, true, false, false)]
    [InlineData(354, true, false, false)]
    [InlineData(421, false, true, false)]
    [InlineData(550, false, false, true)]
    public void ReplyClassesFollowTheFirstDigit(int code, bool positive, bool transient, bool permanent)
    {
        var reply = new SmtpReply(code, "x");
        Assert.Equal(positive, reply.IsPositive);
        Assert.Equal(transient, reply.IsTransient);
        Assert.Equal(permanent, reply.IsPermanent);
    }
}
