using System;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>
    /// Marks a parameter that takes module ESNs. <see cref="HsmCmdlet"/> checks every marked parameter as soon as it is bound
    /// (command line: before anything else runs; pipeline: before the record is used) and stops with InvalidEsn, changing
    /// nothing. With <see cref="Wildcards"/>, patterns of hexadecimal digits, dashes and * ? [ ] are accepted too.
    /// </summary>
    [AttributeUsage(AttributeTargets.Property, Inherited = true)]
    public sealed class EsnParameterAttribute : Attribute
    {
        public bool Wildcards { get; set; }
    }
}
