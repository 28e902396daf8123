// The @ldapjs/* sub-packages ship no type declarations; tests use them as plain modules.
declare module '@ldapjs/asn1';
declare module '@ldapjs/filter';
declare module '@ldapjs/messages';
declare module '@ldapjs/controls';
declare module '@ldapjs/attribute';
